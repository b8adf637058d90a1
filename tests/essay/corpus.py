"""A small corpus in the AI Hub schema, written by the tests (our own Korean sentences).

Essays of three qualities on two prompts: good ones are long, spaced and punctuated and score
high; poor ones are short, run words together, drop the final punctuation and score low.
"""

from __future__ import annotations

import json
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
        "rubric": {"essay_type": "글짓기", "essay_main_subject": title},
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
