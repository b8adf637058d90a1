"""Pretraining the masked language model: a resumable loop over a streamed corpus.

The loop is three separable parts so a data-parallel wrapper can slot in between them:
``LMTrainer.batches()`` (this rank's share of the stream), ``LMTrainer.compute_gradients(ids)``
(forward + backward, gradients accumulate in the parameters) and ``LMTrainer.apply_gradients()``
(clip, learning-rate schedule, AdamW). ``train(config)`` drives them, checkpoints atomically every
N steps, on a timer and on SIGINT/SIGTERM, and refuses to resume a run with other data or
settings (a fingerprint of both is stored in the checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from dlpy import functional as F
from dlpy import nn, optim
from dlpy.io import atomic_write_bytes
from dlpy.lm.data import SequenceStream
from dlpy.lm.model import LMConfig, MaskedLM, mask_tokens
from dlpy.lm.tokenizer import MASK, SEP, UNK, Tokenizer, train_tokenizer
from dlpy.progress import progress
from dlpy.tensor import no_grad

CHECKPOINT = "checkpoint.npz"
TOKENIZER = "tokenizer.model"


@dataclass
class TrainConfig:
    """Settings of one pretraining run (the model's shape is LMConfig)."""
    data: list[str] = field(default_factory=list)
    out: str = "lm-run"
    tokenizer: str = ""  # a tokenizer.model; empty: train one on the data (or reuse OUT's)
    steps: int = 30000  # optimiser steps the cosine schedule spans
    batch_size: int = 32  # sequences per micro-batch
    accumulate: int = 1  # micro-batches per optimiser step
    lr: float = 1e-3
    warmup_steps: int = 500
    min_lr: float = 1e-5
    weight_decay: float = 0.01
    decay: str = "all"  # which parameters weight_decay shrinks: "all" or "matrices" (see below)
    clip: float = 1.0  # max gradient norm
    mask_prob: float = 0.15
    heldout_every: int = 100  # every N-th document of each file is held out
    eval_every: int = 250  # steps between held-out evaluations
    eval_batches: int = 8  # held-out micro-batches per evaluation
    checkpoint_every: int = 250  # steps
    checkpoint_minutes: float = 5.0  # and at least this often
    shuffle_buffer: int = 2048  # sequences
    seed: int = 0
    init_from: str = ""  # start from these weights ("bundled" or a model/run folder), not random
    data_start: float = 0.0  # where in each file the training split's epochs begin (a share)
    file_weights: list[float] = field(default_factory=list)  # shares of the files; empty: equal
    split: str = "morphemes"  # how a tokenizer trained here learns its pieces (see tokenizer)
    tokenizer_type: str = "bpe"  # its SentencePiece algorithm: "bpe" or "unigram"


# the settings that change what the model sees and how it learns (not where or how often it saves)
TRAJECTORY = ("steps", "batch_size", "accumulate", "lr", "warmup_steps", "min_lr", "weight_decay",
              "clip", "mask_prob", "heldout_every", "shuffle_buffer", "seed")


def _file_sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fingerprint(config: TrainConfig, model_config: LMConfig, tokenizer_path: str) -> str:
    """A hash of what decides the run's trajectory: the data files (names and sizes), the
    tokenizer, the model's shape and the optimisation settings."""
    with open(tokenizer_path, "rb") as f:
        tokenizer_hash = hashlib.sha256(f.read()).hexdigest()
    data = [(os.path.basename(p), os.path.getsize(p)) for p in config.data]
    settings = {k: getattr(config, k) for k in TRAJECTORY}
    for later in ("init_from", "data_start", "file_weights"):  # absent at their defaults,
        if getattr(config, later):  # so runs from before these options still resume
            settings[later] = getattr(config, later)
    if config.decay != "all":
        settings["decay"] = config.decay
    blob = json.dumps([data, tokenizer_hash, asdict(model_config), settings], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def decay_groups(model, weight_decay: float, decay: str = "all") -> list[dict]:
    """AdamW's parameter groups. decay="all": one group, every parameter decayed (the bundled
    LM's recipe). decay="matrices": the usual exclusion (BERT's, nanoGPT's): only parameters of
    two or more dimensions (weight matrices and embeddings) are decayed; biases, LayerNorm gains
    and the output bias get weight_decay 0, in a second group."""
    if decay not in ("all", "matrices"):
        raise ValueError(f"lm train: decay must be 'all' or 'matrices', got {decay!r}")
    params = list(model.parameters())
    if decay == "all":
        return [{"params": params, "weight_decay": weight_decay}]
    return [{"params": [p for p in params if p.data.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.data.ndim < 2], "weight_decay": 0.0}]


def _vocabulary_parameters(model: MaskedLM) -> tuple[str, str]:
    """The state_dict names of the token embedding and the output bias."""
    names = {id(p): n for n, p in model.named_parameters()}
    return names[id(model.embed.weight)], names[id(model.head_bias)]


def _greedy_pieces(piece: str, vocabulary: dict[str, int]) -> list[int]:
    """``piece`` spelt in another vocabulary, longest match first; what no piece covers goes
    by its UTF-8 byte pieces (``<0xEA>``), or [UNK] where those are missing too."""
    ids, start, longest = [], 0, max(map(len, vocabulary))
    while start < len(piece):
        for end in range(min(len(piece), start + longest), start, -1):
            if piece[start:end] in vocabulary:
                ids.append(vocabulary[piece[start:end]])
                start = end
                break
        else:
            for byte in piece[start].encode("utf-8"):
                ids.append(vocabulary.get(f"<0x{byte:02X}>", UNK))
            start += 1
    return ids


def transfer_vocabulary(old: Tokenizer, new: Tokenizer, embedding: np.ndarray,
                        bias: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Token embeddings and output biases for ``new``'s pieces from a model trained with
    ``old``: a piece both vocabularies hold (the same string) keeps its row; any other is the
    mean of the rows of the old pieces that spell it (greedy longest match, byte pieces as the
    fallback), as in fast vocabulary transfer. The special ids 0-4 are the same in both.
    Returns (embedding, bias, counts of copied and composed pieces)."""
    vocabulary = {p: i for i, p in enumerate(old.pieces())}
    rows = np.empty((new.vocab_size, embedding.shape[1]), dtype=np.float32)
    biases = np.empty(new.vocab_size, dtype=np.float32)
    copied = 0
    for i, piece in enumerate(new.pieces()):
        if i <= MASK or piece in vocabulary:
            j = i if i <= MASK else vocabulary[piece]
            rows[i], biases[i] = embedding[j], bias[j]
            copied += 1
            continue
        ids = _greedy_pieces(piece, vocabulary)
        rows[i], biases[i] = embedding[ids].mean(axis=0), bias[ids].mean()
    return rows, biases, {"copied": copied, "composed": new.vocab_size - copied}


def evaluate_batches(model: MaskedLM, batches: list[np.ndarray], seed: int = 1234,
                     mask_prob: float = 0.15) -> dict:
    """Masked-LM loss and masked-token accuracy over fixed batches (same masks every call)."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    total_loss, correct, count = 0.0, 0, 0
    labels_all = []
    with no_grad():
        for ids in batches:
            inputs, positions, labels = mask_tokens(ids, rng, model.lm_config.vocab_size,
                                                    mask_prob)
            logits = model(inputs, positions).data
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_total = np.log(np.exp(shifted).sum(axis=1))
            total_loss += float((log_total - shifted[np.arange(len(labels)), labels]).sum())
            correct += int((logits.argmax(axis=1) == labels).sum())
            count += len(labels)
            labels_all.append(labels)
    model.train(was_training)
    return {"loss": total_loss / count, "accuracy": correct / count, "masked_tokens": count,
            "labels": np.concatenate(labels_all)}


def unigram_baseline(counts: np.ndarray, labels: np.ndarray) -> dict:
    """A unigram model's loss (add-one smoothed) and accuracy (always the most frequent token)
    on the same masked tokens."""
    probs = (counts + 1.0) / (counts.sum() + len(counts))
    return {"loss": float(-np.log(probs[labels]).mean()),
            "accuracy": float((labels == int(counts.argmax())).mean())}


class LMTrainer:
    """The model, its optimiser and the data stream of one run, plus the run's counters."""

    def __init__(self, config: TrainConfig, model_config: LMConfig, tokenizer: Tokenizer,
                 rank: int = 0, world_size: int = 1):
        if model_config.vocab_size != tokenizer.vocab_size:
            raise ValueError(
                f"lm train: the model's vocab_size {model_config.vocab_size} differs from the "
                f"tokenizer's {tokenizer.vocab_size}"
            )
        self.config, self.model_config, self.tokenizer = config, model_config, tokenizer
        self.rank, self.world_size = rank, world_size
        self.model = MaskedLM(model_config, rng=np.random.default_rng(config.seed))
        self.optimizer = optim.AdamW(decay_groups(self.model, config.weight_decay, config.decay),
                                     lr=config.lr, weight_decay=config.weight_decay)
        self.schedule = optim.Cosine(config.lr, config.steps, min_lr=config.min_lr,
                                     warmup_steps=min(config.warmup_steps, config.steps - 1))
        self.step = 0  # optimiser steps done
        self.batches_drawn = 0  # micro-batches taken from the stream, all ranks together
        self.tokens_seen = 0
        self.wall_seconds = 0.0
        self.history: list[dict] = []
        self.unigram = np.zeros(model_config.vocab_size, dtype=np.int64)
        self.init: dict = {}  # where the weights started (--init-from): path, step, tokens

    def initialise_from(self, source: str) -> None:
        """Copy the weights of an exported model, the bundled one or another run (not its
        optimiser state or schedule): a new run that continues an earlier pretraining. The
        model's shape must be the same. With another tokenizer the token embeddings and output
        biases go through transfer_vocabulary; every other weight is copied."""
        from dlpy.lm.fill import BUNDLED, PretrainedLM

        folder = BUNDLED if source == "bundled" else Path(source)
        lm = PretrainedLM.load(folder)
        same_tokenizer = _file_sha256(lm.tokenizer.path) == _file_sha256(self.tokenizer.path)
        theirs, ours = lm.model.lm_config, self.model_config
        shape = ("d_model", "num_layers", "num_heads", "dim_feedforward", "max_len")
        shape = ("vocab_size",) + shape if same_tokenizer else shape
        different = [f"{k} {getattr(theirs, k)} vs {getattr(ours, k)}" for k in shape
                     if getattr(theirs, k) != getattr(ours, k)]
        if different:
            raise ValueError(f"--init-from {source}: the model's shape differs from this run's: "
                             + ", ".join(different))
        state = {k: v.astype(np.float32) for k, v in lm.model.state_dict().items()}
        transfer = {}
        if not same_tokenizer:
            names = _vocabulary_parameters(self.model)
            state[names[0]], state[names[1]], transfer = transfer_vocabulary(
                lm.tokenizer, self.tokenizer, state[names[0]], state[names[1]])
        self.model.load_state_dict(state)
        earlier = lm.meta.get("init") or {}  # the source may itself have started from another
        self.init = {"from": str(source), "step": int(lm.meta.get("step", 0)),
                     "tokens_seen": int(lm.meta.get("tokens_seen", 0))
                     + int(earlier.get("tokens_seen", 0)),
                     "wall_seconds": float(lm.meta.get("wall_seconds", 0.0))
                     + float(earlier.get("wall_seconds", 0.0))}
        if transfer:
            self.init["vocabulary_transfer"] = transfer

    # ----------------------------------------------------------------- data
    def stream(self, heldout: bool = False) -> SequenceStream:
        c = self.config
        return SequenceStream(c.data, self.tokenizer.encode, self.model_config.max_len, SEP,
                              heldout_every=c.heldout_every, heldout=heldout,
                              shuffle_buffer=0 if heldout else c.shuffle_buffer, seed=c.seed,
                              repeat=not heldout, start=0.0 if heldout else c.data_start,
                              weights=None if heldout else c.file_weights)

    def batches(self) -> Iterator[np.ndarray]:
        """This rank's micro-batches, continuing after the ones already drawn: batch i of the
        stream goes to rank i % world_size."""
        batch_size = self.config.batch_size
        for ids in self.stream().batches(batch_size, skip=self.batches_drawn * batch_size):
            index = self.batches_drawn
            self.batches_drawn += 1
            if index % self.world_size == self.rank:
                yield ids

    def heldout_batches(self) -> list[np.ndarray]:
        batches = self.stream(heldout=True).batches(self.config.batch_size)
        return [ids for _, ids in zip(range(self.config.eval_batches), batches)]

    # ----------------------------------------------------------------- one step
    def step_rng(self, micro: int) -> np.random.Generator:
        """The generator of one micro-batch (masking and dropout): a function of the step, so a
        resumed run makes the same draws as one that never stopped."""
        rng = np.random.default_rng([self.config.seed, self.step, micro, self.rank])
        for module in self.model.modules():
            if "rng" in module.__dict__:
                module.__dict__["rng"] = rng
        return rng

    def compute_gradients(self, ids: np.ndarray, micro: int = 0) -> dict:
        """Forward and backward on one micro-batch; gradients accumulate in the parameters,
        scaled by 1 / accumulate. Returns the loss and masked-token counts."""
        rng = self.step_rng(micro)
        inputs, positions, labels = mask_tokens(ids, rng, self.model_config.vocab_size,
                                                self.config.mask_prob)
        logits = self.model(inputs, positions)
        loss = F.cross_entropy(logits, labels)
        value = float(loss.data)
        if not math.isfinite(value):
            raise RuntimeError(
                f"lm train: the loss is {value} at step {self.step}; stopping (the last "
                f"checkpoint in {self.config.out} is intact)"
            )
        (loss * (1.0 / self.config.accumulate)).backward()
        correct = int((logits.data.argmax(axis=1) == labels).sum())
        self.unigram += np.bincount(ids.reshape(-1), minlength=len(self.unigram))
        self.tokens_seen += ids.size * self.world_size  # every rank takes a batch this shape
        return {"loss": value, "correct": correct, "masked": len(labels)}

    def apply_gradients(self) -> dict:
        """Clip, set the scheduled learning rate, take the AdamW step, clear the gradients."""
        norm = optim.clip_grad_norm(self.model.parameters(), self.config.clip)
        lr = self.schedule.apply(self.optimizer, self.step)
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.step += 1
        return {"grad_norm": norm, "lr": lr}

    # ----------------------------------------------------------------- state
    def save(self, path: str | os.PathLike, fingerprint_value: str) -> None:
        meta = {"step": self.step, "batches_drawn": self.batches_drawn,
                "tokens_seen": self.tokens_seen, "wall_seconds": self.wall_seconds,
                "fingerprint": fingerprint_value, "lm_config": asdict(self.model_config),
                "train_config": asdict(self.config), "history": self.history,
                "init": self.init}
        nn.save_checkpoint(path, self.model, self.optimizer, extra={"unigram": self.unigram},
                           meta=meta)

    def load(self, path: str | os.PathLike, fingerprint_value: str) -> None:
        meta = nn.read_meta(path)
        if meta.get("fingerprint") != fingerprint_value:
            raise ValueError(
                f"{path}: the checkpoint belongs to another run (fingerprint "
                f"{meta.get('fingerprint')}, this run {fingerprint_value}): other data, "
                f"tokenizer or settings; use another --out or the original settings"
            )
        state = nn.load_checkpoint(path, self.model, self.optimizer)
        self.step, self.batches_drawn = meta["step"], meta["batches_drawn"]
        self.tokens_seen, self.wall_seconds = meta["tokens_seen"], meta["wall_seconds"]
        self.history = meta.get("history", [])
        self.init = meta.get("init", {})
        self.unigram = state["extra"]["unigram"].astype(np.int64)


class _StopSignal:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps."""

    def __init__(self):
        self.received: int | None = None
        self._previous = {}

    def __enter__(self):
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: no handlers, nothing to restore
            self._previous = {}
        return self

    def _handle(self, signum, frame):
        self.received = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def prepare_tokenizer(config: TrainConfig, vocab_size: int, log=print) -> str:
    """The run's tokenizer file in OUT: copied from --tokenizer, kept from an earlier stretch, or
    trained on the data's training split."""
    target = Path(config.out) / TOKENIZER
    tokenizer = config.tokenizer
    if not tokenizer and config.init_from and not target.exists():
        from dlpy.lm.fill import BUNDLED

        tokenizer = str((BUNDLED if config.init_from == "bundled" else Path(config.init_from))
                        / TOKENIZER)
    if tokenizer:
        source = Path(tokenizer)
        if not source.exists():
            raise FileNotFoundError(f"{source}: no such tokenizer model")
        if not target.exists() or source.resolve() != target.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    elif not target.exists():
        log(f"training a {vocab_size}-piece tokenizer on a sample of the data ...")
        train_tokenizer(config.data, target, vocab_size=vocab_size, seed=config.seed,
                        heldout_every=config.heldout_every, split=config.split,
                        model_type=config.tokenizer_type)
    return str(target)


def train(config: TrainConfig, model_config: LMConfig, *, resume: bool = False,
          show_progress: bool = True, max_steps: int | None = None,
          reduce_gradients: Callable[[LMTrainer], None] | None = None, rank: int = 0,
          world_size: int = 1, log=None) -> LMTrainer:
    """Run (or continue) a pretraining run in ``config.out``; returns the trainer.

    max_steps: stop after this many steps in this stretch (the schedule still spans
    ``config.steps``). reduce_gradients(trainer): called between backward and the optimiser
    step (a data-parallel all-reduce). Only rank 0 writes files.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    if not config.data:
        raise ValueError("lm train: no --data files given")
    out = Path(config.out)
    checkpoint = out / CHECKPOINT
    writer = rank == 0
    if writer:
        out.mkdir(parents=True, exist_ok=True)
        if checkpoint.exists() and not resume:
            raise ValueError(f"{checkpoint} exists: pass --resume to continue that run, or "
                             "choose another --out")
    tokenizer_path = prepare_tokenizer(config, model_config.vocab_size, log) if writer \
        else str(out / TOKENIZER)
    tokenizer = Tokenizer(tokenizer_path)
    model_config = LMConfig(**{**asdict(model_config), "vocab_size": tokenizer.vocab_size})
    run_id = fingerprint(config, model_config, tokenizer_path)
    trainer = LMTrainer(config, model_config, tokenizer, rank, world_size)
    if resume and checkpoint.exists():
        trainer.load(checkpoint, run_id)
        log(f"resumed at step {trainer.step} ({trainer.tokens_seen:,} tokens seen, "
            f"{trainer.wall_seconds / 3600:.2f} h so far)")
    elif config.init_from:
        trainer.initialise_from(config.init_from)
        log(f"started from the weights of {config.init_from} (step {trainer.init['step']}, "
            f"{trainer.init['tokens_seen']:,} tokens seen there)")
        if "vocabulary_transfer" in trainer.init:
            moved = trainer.init["vocabulary_transfer"]
            log(f"another tokenizer: {moved['copied']:,} pieces kept their embedding, "
                f"{moved['composed']:,} were composed from the old pieces that spell them")
    heldout = trainer.heldout_batches()
    if not heldout:
        raise ValueError("lm train: the held-out split is smaller than one batch")
    last_save = time.monotonic()
    end = config.steps if max_steps is None else min(config.steps, trainer.step + max_steps)
    bar = progress(total=config.steps, desc="lm train", enabled=show_progress and writer,
                   unit="step")
    bar.update(trainer.step)
    batches = trainer.batches()
    recent: list[float] = []

    def save() -> None:
        if writer:
            trainer.save(checkpoint, run_id)
            _plot(trainer, out / "curves.png")

    with _StopSignal() as stop:
        while trainer.step < end and not _stopping(stop, world_size):
            started = time.perf_counter()
            stats = {"loss": 0.0, "correct": 0, "masked": 0}
            for micro in range(config.accumulate):
                ids = next(batches)
                result = trainer.compute_gradients(ids, micro)
                stats["loss"] += result["loss"] / config.accumulate
                stats["correct"] += result["correct"]
                stats["masked"] += result["masked"]
            if reduce_gradients is not None:
                reduce_gradients(trainer)
            applied = trainer.apply_gradients()
            seconds = time.perf_counter() - started
            trainer.wall_seconds += seconds
            tokens = config.accumulate * config.batch_size * model_config.max_len * world_size
            recent = (recent + [stats["loss"]])[-50:]
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(recent):.3f}", tok_s=f"{tokens / seconds:,.0f}",
                            lr=f"{applied['lr']:.2e}")
            if trainer.step % 10 == 0 or trainer.step == 1:
                trainer.history.append({"step": trainer.step, "loss": float(np.mean(recent)),
                                        "lr": applied["lr"], "tokens": trainer.tokens_seen,
                                        "tokens_per_s": tokens / seconds})
            if trainer.step % config.eval_every == 0 or trainer.step == end:
                result = evaluate_batches(trainer.model, heldout, mask_prob=config.mask_prob)
                base = unigram_baseline(trainer.unigram, result["labels"])
                trainer.history.append({"step": trainer.step, "eval_loss": result["loss"],
                                        "eval_accuracy": result["accuracy"],
                                        "unigram_accuracy": base["accuracy"],
                                        "tokens": trainer.tokens_seen})
                log(f"step {trainer.step}: held-out loss {result['loss']:.3f}, masked accuracy "
                    f"{result['accuracy']:.3f} (unigram {base['accuracy']:.3f}), "
                    f"{trainer.tokens_seen:,} tokens")
            if (trainer.step % config.checkpoint_every == 0
                    or time.monotonic() - last_save > 60 * config.checkpoint_minutes):
                save()
                last_save = time.monotonic()
        save()
    bar.close()
    if stop.received is not None:
        log(f"stopped by signal {stop.received} at step {trainer.step}; checkpoint written to "
            f"{checkpoint}; continue with --resume")
    return trainer


def _stopping(stop: _StopSignal, world_size: int) -> bool:
    """Whether to stop before the next step: a signal on any rank stops every rank at the same
    step (one that went on alone would wait forever in its next allreduce)."""
    received = stop.received is not None
    if world_size > 1:
        from dlpy import distributed

        received = distributed.all_sum([received])[0] > 0
    return received


def train_distributed(config: TrainConfig, model_config: LMConfig, **kwargs) -> LMTrainer:
    """``train()`` as one rank of ``mpirun -n N``: batch i of the stream goes to rank i % N
    (global batch N x batch_size sequences), the gradients are averaged over the ranks after
    each backward (dlpy.distributed.DistributedDataParallel), only rank 0 logs and writes.
    Rank 0 prepares OUT and the tokenizer before the others read it. Every rank starts from
    the same parameters: the same seed, or the same checkpoint when resuming."""
    from dlpy import distributed

    world_size = distributed.init(required=True)
    rank = distributed.rank()
    log = kwargs.pop("log", None)
    if rank != 0:
        log = _quiet
    target = Path(config.out) / TOKENIZER
    with distributed.abort_on_error():
        if rank == 0:
            Path(config.out).mkdir(parents=True, exist_ok=True)
            prepare_tokenizer(config, model_config.vocab_size, log or _stderr)
        # rank 0's tokenizer on every machine, whether OUT is shared or not
        model_bytes = distributed.broadcast_object(target.read_bytes() if rank == 0 else None)
        if rank != 0 and (not target.exists() or target.read_bytes() != model_bytes):
            atomic_write_bytes(target, model_bytes)
    # every rank reads the one rank 0 prepared (the fingerprint ignores this path)
    config = replace(config, tokenizer=str(target))
    wrapped: list[distributed.DistributedDataParallel] = []

    def reduce_gradients(trainer: LMTrainer) -> None:
        if not wrapped:  # checks that the ranks hold the same model and broadcasts rank 0's
            wrapped.append(distributed.DistributedDataParallel(trainer.model))
        wrapped[0].average_gradients()

    with distributed.abort_on_error():
        return train(config, model_config, rank=rank, world_size=world_size,
                     reduce_gradients=reduce_gradients if world_size > 1 else None, log=log,
                     **kwargs)


def _quiet(message: str) -> None:
    pass


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _plot(trainer: LMTrainer, path: Path) -> None:
    from dlpy.plot import Panel, PlotUnavailable, plot_curves

    train_rows = [h for h in trainer.history if "loss" in h]
    eval_rows = [h for h in trainer.history if "eval_loss" in h]
    if not train_rows:
        return
    curves = {"train": ([h["step"] for h in train_rows], [h["loss"] for h in train_rows])}
    if eval_rows:
        curves["held-out"] = ([h["step"] for h in eval_rows], [h["eval_loss"] for h in eval_rows])
    panels = [Panel("masked-LM loss", "cross-entropy", curves)]
    if eval_rows:
        panels.append(Panel("held-out masked-token accuracy", "accuracy", {
            "model": ([h["step"] for h in eval_rows], [h["eval_accuracy"] for h in eval_rows]),
            "unigram": ([h["step"] for h in eval_rows],
                        [h["unigram_accuracy"] for h in eval_rows])}))
    try:
        plot_curves(path, panels, xlabel="step", title="dlpy lm")
    except PlotUnavailable:
        pass
