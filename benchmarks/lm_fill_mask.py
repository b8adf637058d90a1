"""The fill-mask check set: short everyday Korean sentences with one [MASK] each (particles,
common nouns, capital cities) and the expected words; prints each sentence's top 5 and the
share whose expected word is among them.

    python benchmarks/lm_fill_mask.py [--model DIR] [--set core|extra|all] [--json]

Default model: the bundled encoder. The target of issue 12 is a top-5 hit rate of at least 60 %.
`core` (the default) is the 25 sentences the results are reported on; `extra` is 35 more of
the same kinds (12 particles, 17 nouns, 6 capitals), each expected word one piece of the
tokenizer, alone or with the particle glued to it.
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

# a second, larger set of the same three kinds, written apart from the first and kept apart
# from it, so that a change is judged on 60 sentences rather than 25 (--set all)
EXTRA = [
    # particles
    ("나는 친구[MASK] 편지를 썼다.", ["에게", "한테"]),
    ("아버지[MASK] 신문을 읽으신다.", ["는", "께서", "가"]),
    ("고양이[MASK] 의자 위에서 잔다.", ["가", "는"]),
    ("우리는 버스[MASK] 타고 학교에 갔다.", ["를"]),
    ("동생은 사과[MASK] 좋아한다.", ["를"]),
    ("나는 집[MASK] 숙제를 했다.", ["에서"]),
    ("언니는 서울[MASK] 산다.", ["에"]),
    ("나는 연필[MASK] 그림을 그렸다.", ["로"]),
    ("어제는 비[MASK] 많이 왔다.", ["가"]),
    ("형은 나[MASK] 키가 크다.", ["보다"]),
    ("철수는 영희[MASK] 함께 노래를 불렀다.", ["와", "랑", "하고"]),
    ("나는 아침[MASK] 일찍 일어났다.", ["에"]),
    # common nouns
    ("날씨가 추워서 두꺼운 [MASK]을 입었다.", ["옷"]),
    ("나는 [MASK]를 타고 학교에 갔다.", ["버스", "자전거"]),
    ("강아지가 [MASK]를 흔들었다.", ["꼬리"]),
    ("[MASK]가 아파서 병원에 갔다.", ["머리", "배", "다리"]),
    ("엄마가 [MASK]에서 요리를 하신다.", ["주방"]),
    ("겨울에는 하얀 [MASK]이 내린다.", ["눈"]),
    ("[MASK]에 불이 나서 소방차가 왔다.", ["집", "건물"]),
    ("시험 공부를 하려고 [MASK]에 갔다.", ["도서관"]),
    ("[MASK]을 열고 밖을 보았다.", ["창문", "문"]),
    ("저녁에 가족과 함께 [MASK]을 먹었다.", ["밥", "저녁"]),
    ("[MASK]가 짖는 소리가 들렸다.", ["개", "강아지"]),
    ("나무 위에 [MASK]가 앉아 있다.", ["새"]),
    ("아이가 [MASK]을 가지고 놀았다.", ["공", "장난감"]),
    ("[MASK]에 가서 돈을 찾았다.", ["은행"]),
    ("봄이 되니 [MASK]이 피었다.", ["꽃"]),
    ("휴대폰으로 친구에게 [MASK]를 걸었다.", ["전화"]),
    ("[MASK]를 마시면 잠이 안 온다.", ["커피"]),
    # capital cities
    ("독일의 수도는 [MASK]이다.", ["베를린"]),
    ("러시아의 수도는 [MASK]이다.", ["모스크바"]),
    ("이탈리아의 수도는 [MASK]이다.", ["로마"]),
    ("북한의 수도는 [MASK]이다.", ["평양"]),
    ("미국의 수도는 [MASK]이다.", ["워싱턴"]),
    ("서울은 대한민국의 [MASK]이다.", ["수도"]),
]

SETS = {"core": CHECKS, "extra": EXTRA, "all": CHECKS + EXTRA}
# each set's kinds in order: (kind, how many)
_KINDS = {"core": [("particles", 8), ("nouns", 12), ("capitals", 5)],
          "extra": [("particles", 12), ("nouns", 17), ("capitals", 6)]}
_KINDS["all"] = _KINDS["core"] + _KINDS["extra"]


def kinds(name: str) -> list[str]:
    """The kind of each check of set ``name``, in order."""
    labels = [kind for kind, count in _KINDS[name] for _ in range(count)]
    assert len(labels) == len(SETS[name])
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="default: the bundled encoder")
    parser.add_argument("--set", choices=sorted(SETS), default="core",
                        help="which sentences (default: core, the 25 reported)")
    parser.add_argument("--json", action="store_true", help="one JSON summary line")
    args = parser.parse_args()
    from dlpy.lm.fill import load_pretrained

    lm = load_pretrained(args.model)
    hits = 0
    rows = []
    checks = SETS[args.set]
    for text, answers in checks:
        top = [c["token"] for c in lm.fill_mask(text, top_k=5)]
        hit = any(a in top for a in answers)
        hits += hit
        rows.append({"text": text, "expected": answers, "top5": top, "hit": hit})
        if not args.json:
            print(f"{'+' if hit else '-'} {text}  expected {'/'.join(answers)}  got "
                  f"{' '.join(top)}")
    rate = hits / len(checks)
    by_kind: dict[str, list[int]] = {}
    for kind, row in zip(kinds(args.set), rows):
        by_kind.setdefault(kind, [0, 0])
        by_kind[kind][0] += row["hit"]
        by_kind[kind][1] += 1
    if args.json:
        print(json.dumps({"hits": hits, "total": len(checks), "set": args.set,
                          "top5_hit_rate": rate, "step": lm.meta.get("step"),
                          "by_kind": {k: {"hits": h, "total": n} for k, (h, n) in by_kind.items()},
                          "rows": rows},
                         ensure_ascii=False))
    else:
        print("by kind: " + ", ".join(f"{k} {h}/{n}" for k, (h, n) in by_kind.items()))
        print(f"fill-mask top-5 hit rate ({args.set}): {hits}/{len(checks)} = {rate:.0%} "
              f"(model at step {lm.meta.get('step')})")


if __name__ == "__main__":
    main()
