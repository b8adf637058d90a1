"""Small corpora in the AI Hub schema, written by the tests (our own Korean sentences).

    write_corpus(folder)            # 글짓기 only, two prompts, one JSON file per essay
    write_aihub_corpus(folder)      # five categories as zips like aihub-train, with duplicates
    write_hostile(folder)           # files and zip members that must be skipped and named

Essays of three qualities: good ones are long, spaced and punctuated and score high; poor ones
are short, run words together, drop the final punctuation and score low.
"""

from __future__ import annotations

import json
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROMPTS = {
    "미래의 나의 모습": "십 년 뒤의 나는 어떤 모습일까요? 꿈과 그 꿈을 위한 노력을 써 보세요.",
    "소중함을 잃었던 경험": ("익숙해서 소중함을 잊었던 경험을 떠올려 보고, "
                          "그 뒤에 어떻게 했는지 써 보세요."),
}

GOOD = {
    "미래의 나의 모습": [
        "나는 십 년 뒤에 아이들을 가르치는 초등학교 선생님이 되어 있을 것이다.",
        "어릴 때 담임 선생님께서 내 이야기를 끝까지 들어 주셨던 기억이 지금도 생생하다.",
        "그래서 나도 학생 한 명 한 명의 목소리에 귀를 기울이는 어른이 되고 싶다.",
        "이 꿈을 이루기 위해 요즘 매일 아침 삼십 분씩 책을 읽고 짧은 감상문을 쓴다.",
        "또한 동생의 숙제를 도와주면서 설명하는 방법을 조금씩 익히고 있다.",
        "처음에는 내가 아는 것을 말로 풀어내는 일이 생각보다 어려웠다.",
        "하지만 여러 번 연습하다 보니 쉬운 예를 들어 설명하는 요령이 생겼다.",
        "앞으로는 교육 봉사 활동에도 참여하여 다양한 아이들을 만나 보고 싶다.",
        "물론 선생님이 되는 길이 쉽지는 않겠지만 포기하지 않을 자신이 있다.",
        "십 년 뒤의 내가 오늘의 나에게 고맙다고 말할 수 있도록 하루하루 성실하게 살겠다.",
    ],
    "소중함을 잃었던 경험": [
        "작년 겨울, 나는 매일 아침 도시락을 싸 주시는 어머니께 한 번도 감사하다고 말하지 않았다.",
        "도시락은 늘 그 자리에 있었기 때문에 당연한 것이라고 생각했던 것 같다.",
        "그러던 어느 날 어머니께서 몸살이 나셔서 며칠 동안 도시락을 싸 주지 못하셨다.",
        "점심시간에 빵을 사 먹으면서 나는 그동안 얼마나 많은 정성을 받았는지 깨달았다.",
        "집에 돌아와 어머니의 이마에 물수건을 올려 드리며 처음으로 고맙다고 말씀드렸다.",
        "어머니께서는 아무 말 없이 웃으시며 내 손을 꼭 잡아 주셨다.",
        "그 뒤로 나는 주말마다 설거지를 하고 가끔은 직접 아침을 차려 드린다.",
        "익숙함에 속아 소중함을 잊지 말자는 말은 바로 이런 경험에서 나온 것이라고 생각한다.",
        "이제는 곁에 있는 사람들에게 고마운 마음을 미루지 않고 바로 표현하려고 노력한다.",
        "작은 말 한마디가 관계를 얼마나 따뜻하게 만드는지 이번 일을 통해 배웠다.",
    ],
}

POOR = {
    "미래의 나의 모습": [
        "나는커서 돈을많이 벌고싶다",
        "그냥 잘살고싶다",
        "게임도 많이하고 놀고싶다",
        "끝",
    ],
    "소중함을 잃었던 경험": [
        "친구랑싸웠다",
        "그래서 안놀았다",
        "나중에 화해했다",
        "끝",
    ],
}


def _essay_json(title: str, sentences: list[str], paragraphs: int, score: float,
                item: int, essay_id: str) -> dict:
    size = max(1, len(sentences) // paragraphs)
    chunks = [sentences[i:i + size] for i in range(0, len(sentences), size)]
    return {
        "paragraph": [{"paragraph_txt": "".join(s + "#@문장구분#" for s in chunk),
                       "paragraph_id": f"{i + 1:03d}"} for i, chunk in enumerate(chunks)],
        "score": {
            "essay_scoreT": [score, score, score],
            "essay_scoreT_avg": score,
            "essay_scoreT_detail": {
                "essay_scoreT_org": [[item] * 4] * 3,
                "essay_scoreT_cont": [[item] * 4] * 3,
                "essay_scoreT_exp": [[item] * 3] * 3,
            },
        },
        "student": {"student_grade": "중등_1학년", "location": "000"},
        "rubric": {"essay_type": "글짓기", "essay_main_subject": title,
                   "organization_weight": {"org": 3, "org_essay": 6, "org_paragraph": 0,
                                           "org_coherence": 3, "org_quantity": 1},
                   "content_weight": {"con": 4, "con_clearance": 3, "con_novelty": 3,
                                      "con_prompt": 1, "con_description": 3},
                   "expression_weight": {"exp": 3, "exp_grammar": 2, "exp_vocab": 4,
                                         "exp_style": 4}},
        "info": {"essay_id": essay_id, "essay_prompt": PROMPTS[title], "essay_type": "글짓기",
                 "essay_main_subject": title},
    }


def write_corpus(folder: Path, per_prompt: int = 12, seed: int = 0) -> Path:
    """Write per_prompt essays for each prompt into folder (one JSON file each)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for title in PROMPTS:
        for k in range(per_prompt):
            quality = k % 3  # 0 poor, 1 middling, 2 good
            if quality == 0:
                sentences = list(POOR[title])
                score, item = 12.0 + rng.uniform(0, 3), 1
            elif quality == 1:
                sentences = list(rng.permutation(GOOD[title])[:5])
                score, item = 21.0 + rng.uniform(0, 3), 2
            else:
                sentences = list(rng.permutation(GOOD[title]))
                score, item = 27.0 + rng.uniform(0, 3), 3
            doc = _essay_json(title, sentences, 1 + quality, round(float(score), 4), item,
                              f"ESSAY_{n:05d}")
            (folder / f"글짓기_중등_1학년_ESSAY_{n:05d}.json").write_text(
                json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            n += 1
    return folder


# --------------------------------------------------------------------------- all five categories

# category -> (zip name, prompt title, prompt text, good sentences, poor sentences, weights)
# weights: criterion weights (sum 10) and item weights, as the real rubric gives them per
# category (e.g. con_prompt 0 for some)
CATEGORY_PROMPTS = {
    "대안제시": ("alternative.zip", "급식 잔반 줄이기",
             "학교 급식에서 남는 음식이 많습니다. 잔반을 줄일 수 있는 방법을 제안해 보세요.",
             ["급식을 남기지 않으려면 먹을 만큼만 받아야 한다.",
              "반마다 잔반이 적은 날을 세어 칭찬 스티커를 주면 좋겠다.",
              "영양사 선생님께 좋아하는 반찬을 설문으로 알려 드리는 것도 방법이다.",
              "남은 음식의 양을 게시판에 적어 두면 모두가 스스로 돌아보게 된다.",
              "텃밭에서 직접 채소를 길러 보면 음식의 소중함을 알게 될 것이다.",
              "이런 노력이 모이면 버려지는 음식이 눈에 띄게 줄어들 것이다."],
             ["그냥 다먹으면된다", "싫은건 안먹는다", "끝"],
             ({"org": 3, "con": 4, "exp": 3},
              {"org_essay": 6, "org_paragraph": 0, "org_coherence": 3, "org_quantity": 1,
               "con_clearance": 3, "con_novelty": 3, "con_prompt": 0, "con_description": 3,
               "exp_grammar": 2, "exp_vocab": 4, "exp_style": 4})),
    "설명글": ("explanatory.zip", "영화/독서감상문",
            "최근에 읽은 책이나 본 영화를 소개하고 느낀 점을 써 보세요.",
            ["내가 최근에 읽은 책은 어린 왕자이다.",
             "이 책은 사막에 불시착한 조종사가 작은 별에서 온 왕자를 만나는 이야기이다.",
             "왕자는 여러 별을 여행하며 이상한 어른들을 만난다.",
             "가장 기억에 남는 장면은 여우가 길들인다는 것의 뜻을 알려 주는 부분이다.",
             "나는 이 책을 읽고 소중한 관계에는 시간과 정성이 필요하다는 것을 배웠다.",
             "어른이 되어서도 이 책을 다시 읽어 보고 싶다."],
            ["책을읽었다", "재미있었다", "끝"],
            ({"org": 2, "con": 5, "exp": 3},
             {"org_essay": 4, "org_paragraph": 2, "org_coherence": 3, "org_quantity": 1,
              "con_clearance": 3, "con_novelty": 2, "con_prompt": 1, "con_description": 4,
              "exp_grammar": 3, "exp_vocab": 3, "exp_style": 4})),
    "주장": ("argument.zip", "학교 휴대전화 사용",
           "학교에서 휴대전화 사용을 허용해야 할까요? 자신의 주장과 근거를 들어 글을 써 보세요.",
           ["나는 학교에서 휴대전화 사용을 제한해야 한다고 생각한다.",
            "수업 시간에 알림이 울리면 집중이 흐트러지기 때문이다.",
            "쉬는 시간에도 친구와 대화하기보다 화면만 보는 학생이 많다.",
            "물론 급한 연락이 필요할 때도 있다.",
            "그런 경우에는 교무실 전화를 이용하면 충분하다.",
            "따라서 등교할 때 휴대전화를 걷고 하교할 때 돌려주는 방법이 알맞다."],
           ["폰은 자유다", "그냥 쓰게해야함", "끝"],
           ({"org": 3, "con": 4, "exp": 3},
            {"org_essay": 5, "org_paragraph": 1, "org_coherence": 3, "org_quantity": 1,
             "con_clearance": 4, "con_novelty": 2, "con_prompt": 1, "con_description": 3,
             "exp_grammar": 3, "exp_vocab": 3, "exp_style": 4})),
    "찬성반대": ("pro-con.zip", "교복 자율화",
             "교복을 입지 않고 자유롭게 옷을 입는 것에 찬성하나요, 반대하나요?",
             ["나는 교복 자율화에 반대한다.",
              "교복을 입으면 매일 아침 옷을 고르는 시간을 아낄 수 있다.",
              "또한 비싼 옷을 입은 친구와 비교하며 속상해할 일도 줄어든다.",
              "자율화를 주장하는 사람들은 개성을 표현할 수 있다고 말한다.",
              "하지만 개성은 옷이 아니라 생각과 행동으로도 충분히 드러낼 수 있다.",
              "그러므로 교복을 유지하되 편한 생활복을 함께 허용하는 것이 좋겠다."],
             ["교복싫다", "불편하다", "끝"],
             ({"org": 3, "con": 4, "exp": 3},
              {"org_essay": 6, "org_paragraph": 0, "org_coherence": 3, "org_quantity": 1,
               "con_clearance": 3, "con_novelty": 3, "con_prompt": 1, "con_description": 3,
               "exp_grammar": 2, "exp_vocab": 4, "exp_style": 4})),
}
WRITING_WEIGHTS = ({"org": 2, "con": 4, "exp": 4},
                   {"org_essay": 4, "org_paragraph": 2, "org_coherence": 2, "org_quantity": 1,
                    "con_clearance": 4, "con_novelty": 3, "con_prompt": 0, "con_description": 1,
                    "exp_grammar": 2, "exp_vocab": 3, "exp_style": 1})
ITEM_ORDER = {"org": ("org_essay", "org_paragraph", "org_coherence", "org_quantity"),
              "con": ("con_clearance", "con_novelty", "con_prompt", "con_description"),
              "exp": ("exp_grammar", "exp_vocab", "exp_style")}
ZIPS = {"글짓기": "writing.zip", **{c: v[0] for c, v in CATEGORY_PROMPTS.items()}}


def rater_total(items: dict[str, list[int]], weights) -> float:
    """One rater's weighted total (0-30) from their item scores, as AI Hub computes it."""
    criterion_weights, item_weights = weights
    total = 0.0
    for key, names in ITEM_ORDER.items():
        ws = [item_weights[n] for n in names]
        total += criterion_weights[key] * sum(w * v for w, v in zip(ws, items[key])) / sum(ws)
    return round(total, 6)


def aihub_essay(category: str, title: str, prompt: str, sentences: list[str], essay_id: str,
                raters: list[dict[str, list[int]]], weights, paragraphs: int = 1,
                rubric_type: str | None = None) -> dict:
    """One essay in the AI Hub schema; rater totals and their mean follow from the items."""
    size = max(1, -(-len(sentences) // paragraphs))
    chunks = [sentences[i:i + size] for i in range(0, len(sentences), size)]
    totals = [rater_total(r, weights) for r in raters]
    criterion_weights, item_weights = weights
    return {
        "paragraph": [{"paragraph_txt": "".join(s + "#@문장구분#" for s in chunk),
                       "paragraph_id": f"{i + 1:03d}"} for i, chunk in enumerate(chunks)],
        "score": {
            "essay_scoreT": totals,
            "essay_scoreT_avg": round(sum(totals) / len(totals), 6),
            "essay_scoreT_detail": {
                "essay_scoreT_org": [r["org"] for r in raters],
                "essay_scoreT_cont": [r["con"] for r in raters],
                "essay_scoreT_exp": [r["exp"] for r in raters],
            },
        },
        "student": {"student_grade": "중등_1학년", "location": "000"},
        "rubric": {
            "essay_type": rubric_type or category, "essay_main_subject": title,
            "organization_weight": {"org": criterion_weights["org"],
                                    **{k: item_weights[k] for k in ITEM_ORDER["org"]}},
            "content_weight": {"con": criterion_weights["con"],
                               **{k: item_weights[k] for k in ITEM_ORDER["con"]}},
            "expression_weight": {"exp": criterion_weights["exp"],
                                  **{k: item_weights[k] for k in ITEM_ORDER["exp"]}},
        },
        "info": {"essay_id": essay_id, "essay_prompt": prompt, "essay_type": category,
                 "essay_main_subject": title},
    }


@dataclass
class CorpusFacts:
    """What write_aihub_corpus wrote, for tests to check against."""

    folder: Path
    counts: dict[str, int] = field(default_factory=dict)          # essays per category
    prompts: dict[str, list[str]] = field(default_factory=dict)   # category -> titles
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (original, copy) ids
    rubric_disagrees: list[str] = field(default_factory=list)     # 글짓기 ids typed 설명글

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _prompt_table() -> dict[str, list[tuple[str, str, list[str], list[str], tuple]]]:
    table = {"글짓기": [(title, PROMPTS[title], GOOD[title], POOR[title], WRITING_WEIGHTS)
                     for title in PROMPTS]}
    for category, (_, title, prompt, good, poor, weights) in CATEGORY_PROMPTS.items():
        table[category] = [(title, prompt, good, poor, weights)]
    return table


def write_aihub_corpus(folder: Path, per_prompt: int = 6, seed: int = 0,
                       duplicates: int = 1) -> CorpusFacts:
    """A corpus laid out like aihub-train: one zip per category (`writing.zip`, ...), members
    `<category>/<category>_중등_1학년_ESSAY_<id>.json`, ids running in batches per prompt,
    per_prompt essays per prompt in three qualities, `duplicates` texts per category copied
    under a new id with other scores, and one 글짓기 essay whose rubric.essay_type says 설명글."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    facts = CorpusFacts(folder)
    next_id = 50000
    for category, prompts in _prompt_table().items():
        members: list[tuple[str, dict]] = []
        for title, prompt, good, poor, weights in prompts:
            facts.prompts.setdefault(category, []).append(title)
            for k in range(per_prompt):
                quality = k % 3  # 0 poor, 1 middling, 2 good
                turn = k // 3  # texts differ within a quality: no duplicates by chance
                rotated = good[turn % len(good):] + good[:turn % len(good)]
                if quality == 0:
                    sentences, level = poor[turn % len(poor):] + poor[:turn % len(poor)], 1
                elif quality == 1:
                    sentences, level = rotated[:3], 2
                else:
                    sentences, level = rotated[::-1] if turn % 2 else rotated, 3
                raters = [{key: [int(np.clip(level - rng.integers(0, 2), 0, 3))
                                 for _ in names] for key, names in ITEM_ORDER.items()}
                          for _ in range(3)]
                essay_id = f"ESSAY_{next_id}"
                next_id += 1
                rubric_type = None
                if category == "글짓기" and not facts.rubric_disagrees:
                    rubric_type = "설명글"
                    facts.rubric_disagrees.append(essay_id)
                members.append((essay_id, aihub_essay(category, title, prompt, sentences,
                                                      essay_id, raters, weights, 1 + quality,
                                                      rubric_type)))
            next_id += 100  # the next prompt is another collection batch
        for original_id, doc in members[2:2 + duplicates]:  # middling/good texts get a twin
            copy = json.loads(json.dumps(doc))
            essay_id = f"ESSAY_{next_id}"
            next_id += 1
            copy["info"]["essay_id"] = essay_id
            # the same text, spaced differently, scored again by other raters
            for paragraph in copy["paragraph"]:
                paragraph["paragraph_txt"] = paragraph["paragraph_txt"].replace(" ", "  ", 1)
            raters = [{key: [max(0, v - 1) for v in values] for key, values in r.items()}
                      for r in _raters_of(copy)]
            weights = _weights_of(copy)
            totals = [rater_total(r, weights) for r in raters]
            copy["score"]["essay_scoreT"] = totals
            copy["score"]["essay_scoreT_avg"] = round(sum(totals) / 3, 6)
            for key, name in (("org", "essay_scoreT_org"), ("con", "essay_scoreT_cont"),
                              ("exp", "essay_scoreT_exp")):
                copy["score"]["essay_scoreT_detail"][name] = [r[key] for r in raters]
            members.append((essay_id, copy))
            facts.duplicates.append((original_id, essay_id))
        with zipfile.ZipFile(folder / ZIPS[category], "w", zipfile.ZIP_DEFLATED) as archive:
            for essay_id, doc in members:
                archive.writestr(f"{category}/{category}_중등_1학년_{essay_id}.json",
                                 json.dumps(doc, ensure_ascii=False, indent=1))
        facts.counts[category] = len(members)
    return facts


def _raters_of(doc: dict) -> list[dict[str, list[int]]]:
    detail = doc["score"]["essay_scoreT_detail"]
    return [{"org": o, "con": c, "exp": e} for o, c, e in
            zip(detail["essay_scoreT_org"], detail["essay_scoreT_cont"],
                detail["essay_scoreT_exp"])]


def _weights_of(doc: dict) -> tuple[dict, dict]:
    rubric = doc["rubric"]
    parts = {"org": rubric["organization_weight"], "con": rubric["content_weight"],
             "exp": rubric["expression_weight"]}
    return ({k: v[k] for k, v in parts.items()},
            {item: parts[k][item] for k, names in ITEM_ORDER.items() for item in names})


# --------------------------------------------------------------------------- hostile files

def good_essay(essay_id: str = "ESSAY_1") -> dict:
    """A valid 주장 essay to break in one place."""
    _, title, prompt, good, _, weights = CATEGORY_PROMPTS["주장"]
    raters = [{key: [2] * len(names) for key, names in ITEM_ORDER.items()}] * 3
    return aihub_essay("주장", title, prompt, list(good), essay_id, raters, weights, 2)


def _patch_central(data: bytes, name: str, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field of a member's central-directory record (and of its local header for
    the flag bits), to make what zipfile cannot write: an encrypted member, a lying size."""
    encoded = name.encode("utf-8")
    central = data.index(b"PK\x01\x02")  # the first central-directory record
    while True:
        name_length = struct.unpack("<H", data[central + 28:central + 30])[0]
        if data[central + 46:central + 46 + name_length] == encoded:
            break
        extra, comment = struct.unpack("<HH", data[central + 30:central + 34])
        central = central + 46 + name_length + extra + comment
    local = struct.unpack("<I", data[central + 42:central + 46])[0]
    data = bytearray(data)
    struct.pack_into(fmt, data, central + offset, value)
    if offset == 8:  # general-purpose flags: the local header has them at offset 6
        struct.pack_into(fmt, data, local + 6, value)
    return bytes(data)


def write_hostile(folder: Path, max_bytes: int = 5 * 1024 * 1024) -> dict[str, str]:
    """Bad files beside good ones; returns {file or "zip::member": what its error must say}.
    Good files: `good.json` and the zip's `주장/good_*.json` members (three essays in all)."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    def write(name: str, data: bytes, message: str) -> None:
        (folder / name).write_bytes(data)
        expected[name] = message

    (folder / "good.json").write_text(json.dumps(good_essay("ESSAY_1"), ensure_ascii=False),
                                      encoding="utf-8")
    write("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply")
    doc = good_essay("ESSAY_2")
    text = json.dumps(doc, ensure_ascii=False).replace(
        '"essay_scoreT_avg": ' + json.dumps(doc["score"]["essay_scoreT_avg"]),
        '"essay_scoreT_avg": ' + "9" * 5000)
    write("digits.json", text.encode("utf-8"), "4300 digits")
    doc = good_essay("ESSAY_3")
    text = json.dumps(doc, ensure_ascii=True).replace("\\ub098\\ub294", "\\ud800", 1)
    write("surrogate.json", text.encode("ascii"), "lone surrogate")
    write("cp949.json", json.dumps(good_essay("ESSAY_4"), ensure_ascii=False).encode("cp949"),
          "not UTF-8")
    doc = good_essay("ESSAY_5")
    doc["score"]["essay_scoreT_avg"] = round(doc["score"]["essay_scoreT_avg"] - 3, 6)
    write("contradicts.json", json.dumps(doc, ensure_ascii=False).encode("utf-8"),
          "contradicts the raters' totals")
    doc = good_essay("ESSAY_6")
    doc["rubric"]["content_weight"]["con_prompt"] = float("nan")
    write("nan_weight.json", json.dumps(doc, ensure_ascii=False).encode("utf-8"),
          r"rubric.content_weight.con_prompt': expected a finite weight")
    doc = good_essay("ESSAY_7")
    doc["rubric"]["organization_weight"]["org"] = "three"
    write("text_weight.json", json.dumps(doc, ensure_ascii=False).encode("utf-8"),
          r"rubric.organization_weight.org': expected a rubric weight \(a number\)")
    write("not_a.zip", b"PK\x03\x04 this is not a zip", "not a readable zip archive")

    archive_path = folder / "mixed.zip"
    names = {"crc": "주장/bad_crc.json", "encrypted": "주장/encrypted.json",
             "bomb": "주장/bomb.json", "liar": "주장/lying_size.json"}
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("주장/good_1.json", json.dumps(good_essay("ESSAY_11"),
                                                       ensure_ascii=False))
        archive.writestr(names["crc"], json.dumps(good_essay("ESSAY_12"), ensure_ascii=False),
                         zipfile.ZIP_STORED)
        archive.writestr(names["encrypted"], json.dumps(good_essay("ESSAY_13")))
        bomb = good_essay("ESSAY_14")
        bomb["paragraph"][0]["paragraph_txt"] += " " * (max_bytes + 1)
        archive.writestr(names["bomb"], json.dumps(bomb), zipfile.ZIP_DEFLATED)
        liar = good_essay("ESSAY_15")
        liar["paragraph"][0]["paragraph_txt"] += " " * (4 * max_bytes)
        archive.writestr(names["liar"], json.dumps(liar), zipfile.ZIP_DEFLATED)
        archive.writestr("주장/good_2.json", json.dumps(good_essay("ESSAY_16"),
                                                       ensure_ascii=False))
    data = archive_path.read_bytes()
    # flip one byte of the stored member's text: its CRC-32 no longer matches
    start = data.index("주장/bad_crc.json".encode()) + len("주장/bad_crc.json".encode())
    start = data.index(b"ESSAY_12", start)
    data = data[:start] + b"X" + data[start + 1:]
    data = _patch_central(data, names["encrypted"], 8, "<H", 0x1 | 0x800)
    data = _patch_central(data, names["liar"], 24, "<I", 1000)  # says 1,000 bytes inflated
    archive_path.write_bytes(data)
    expected[f"mixed.zip::{names['crc']}"] = "Bad CRC-32"
    expected[f"mixed.zip::{names['encrypted']}"] = "encrypted"
    expected[f"mixed.zip::{names['bomb']}"] = "cap of one essay file"
    expected[f"mixed.zip::{names['liar']}"] = "unreadable zip member"
    return expected
