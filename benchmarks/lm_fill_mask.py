"""The fill-mask check set: short everyday Korean sentences with one [MASK] each (particles,
common nouns, capital cities) and the expected words; prints each sentence's top 5 and the
share whose expected word is among them.

    python benchmarks/lm_fill_mask.py [--model DIR] [--json]

Default model: the bundled encoder. The target of issue 12 is a top-5 hit rate of at least 60 %.
"""

from __future__ import annotations

import argparse
import json

# (text, accepted answers); a particle's answers include its other spelling after a vowel
CHECKS = [
    # particles
    ("나는 어제 학교[MASK] 갔다.", ["에"]),
    ("우리는 점심으로 밥[MASK] 먹었다.", ["을"]),
    ("동생[MASK] 방에서 울고 있었다.", ["이", "은"]),
    ("오늘[MASK] 날씨가 정말 좋다.", ["은"]),
    ("나는 도서관에서 책[MASK] 읽었다.", ["을"]),
    ("어머니께서 시장[MASK] 가셨다.", ["에"]),
    ("친구[MASK] 함께 공원에 갔다.", ["와", "랑", "하고"]),
    ("선생님[MASK] 우리에게 숙제를 내 주셨다.", ["이", "께서", "은"]),
    # common nouns
    ("목이 말라서 [MASK]을 마셨다.", ["물"]),
    ("배가 고파서 [MASK]을 먹었다.", ["밥", "빵"]),
    ("나는 매일 아침 [MASK]에 간다.", ["학교", "회사"]),
    ("여름 방학에 가족과 [MASK]에 가서 수영을 했다.", ["바다"]),
    ("우리 [MASK]은 모두 네 명이다.", ["가족", "집"]),
    ("주말에 친구와 [MASK]를 보러 영화관에 갔다.", ["영화"]),
    ("아이들이 [MASK]에서 축구를 했다.", ["운동장", "공원"]),
    ("나는 커서 훌륭한 [MASK]이 되고 싶다.", ["사람", "선생님"]),
    ("밤에는 하늘에 [MASK]이 떠 있다.", ["달", "별"]),
    ("감기에 걸려서 [MASK]에 갔다.", ["병원"]),
    ("[MASK]는 우리에게 우유를 준다.", ["소", "엄마"]),
    ("한국 사람들은 [MASK]를 많이 먹는다.", ["김치", "고기"]),
    # capital cities
    ("대한민국의 수도는 [MASK]이다.", ["서울"]),
    ("일본의 수도는 [MASK]이다.", ["도쿄"]),
    ("프랑스의 수도는 [MASK]이다.", ["파리"]),
    ("영국의 수도는 [MASK]이다.", ["런던"]),
    ("중국의 수도는 [MASK]이다.", ["베이징", "북경"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="default: the bundled encoder")
    parser.add_argument("--json", action="store_true", help="one JSON summary line")
    args = parser.parse_args()
    from dlpy.lm.fill import load_pretrained

    lm = load_pretrained(args.model)
    hits = 0
    rows = []
    for text, answers in CHECKS:
        top = [c["token"] for c in lm.fill_mask(text, top_k=5)]
        hit = any(a in top for a in answers)
        hits += hit
        rows.append({"text": text, "expected": answers, "top5": top, "hit": hit})
        if not args.json:
            print(f"{'+' if hit else '-'} {text}  expected {'/'.join(answers)}  got "
                  f"{' '.join(top)}")
    rate = hits / len(CHECKS)
    if args.json:
        print(json.dumps({"hits": hits, "total": len(CHECKS), "top5_hit_rate": rate,
                          "step": lm.meta.get("step"), "rows": rows}, ensure_ascii=False))
    else:
        print(f"fill-mask top-5 hit rate: {hits}/{len(CHECKS)} = {rate:.0%} "
              f"(model at step {lm.meta.get('step')})")


if __name__ == "__main__":
    main()
