"""One ScoringService (the bundled model and Kiwi) for the serve tests, loaded once per session,
and small inputs for them."""

from __future__ import annotations

import functools
import io
import json
import zipfile
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "src" / "dlpy" / "essay" / "examples"
PROMPT = "미래의 나의 모습"


def good_essay() -> str:
    return (EXAMPLES / "good.txt").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _service():
    import os

    from dlpy.essay.service import ScoringService

    # the bundled model unless DLPY_SERVE_TEST_MODEL names another (to try a new model)
    return ScoringService(os.environ.get("DLPY_SERVE_TEST_MODEL") or None)


def service():
    pytest.importorskip("kiwipiepy")
    return _service()


def aihub_json(essay_id: str, text: str, prompt: str = PROMPT) -> bytes:
    """A minimal essay in the AI Hub schema (what a teacher's zip holds)."""
    detail = {k: [[2, 2, 2, 2]] for k in ("essay_scoreT_org", "essay_scoreT_cont")}
    detail["essay_scoreT_exp"] = [[2, 2, 2]]
    doc = {"info": {"essay_id": essay_id, "essay_type": "글짓기", "essay_main_subject": prompt,
                    "essay_prompt": "십 년 뒤의 나는 어떤 모습일까요?"},
           "paragraph": [{"paragraph_txt": p} for p in text.split("\n") if p.strip()],
           "score": {"essay_scoreT_avg": 20.0, "essay_scoreT": [20.0],
                     "essay_scoreT_detail": detail}}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def class_zip(texts: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for essay_id, text in texts.items():
            archive.writestr(f"글짓기/{essay_id}.json", aihub_json(essay_id, text))
    return out.getvalue()
