"""Personal-data scrubbing on a planted set: recall per kind and false positives.

Every text discloses one value (email, phone, card, IBAN) among ordinary numbers (amounts,
dates, order ids, ticker prices), or holds ordinary numbers only. Recall: planted values no
longer found in the scrubbed text. False positives: ordinary-only texts the scrubber changed,
and ordinary numbers that did not survive in the texts that also hold a planted value.

    .venv/bin/python bench/pii.py            # 20,000 texts
    .venv/bin/python bench/pii.py --n 2000 --seed 1
"""

from __future__ import annotations

import argparse
import re
import time

from data_contracts.pii import PLACEHOLDERS, scrub_text
from karpa.demo.pii import PII_TYPES, planted_set

NUMBER = re.compile(r"\d[\d.,:\-]*\d|\d")


def measure(n: int, seed: int) -> dict:
    texts = planted_set(n, seed)
    found = dict.fromkeys(PII_TYPES, 0)
    total = dict.fromkeys(PII_TYPES, 0)
    missed: list[str] = []
    changed_ordinary = ordinary_texts = 0
    numbers_kept = numbers = 0
    started = time.perf_counter()
    for kind, value, text in texts:
        scrubbed, _ = scrub_text(text)
        if not kind:
            ordinary_texts += 1
            if scrubbed != text:
                changed_ordinary += 1
                missed.append(f"false positive: {text!r} -> {scrubbed!r}")
            continue
        total[kind] += 1
        if value in scrubbed:
            missed.append(f"missed {kind}: {text!r}")
        else:
            found[kind] += 1
        # The ordinary numbers around the value survive.
        rest = text.replace(value, " ")
        for number in NUMBER.findall(rest):
            numbers += 1
            numbers_kept += number in scrubbed.replace(PLACEHOLDERS[kind], " ")
    seconds = time.perf_counter() - started
    return {
        "found": found,
        "total": total,
        "changed_ordinary": changed_ordinary,
        "ordinary_texts": ordinary_texts,
        "numbers_kept": numbers_kept,
        "numbers": numbers,
        "seconds": seconds,
        "examples": missed[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    r = measure(args.n, args.seed)
    print(f"planted set: {args.n:,} texts, seed {args.seed}")
    print(f"{'kind':<8}{'planted':>9}{'scrubbed':>10}{'recall':>9}")
    for kind in PII_TYPES:
        total, found = r["total"][kind], r["found"][kind]
        print(f"{kind:<8}{total:>9,}{found:>10,}{found / max(total, 1):>9.2%}")
    all_total, all_found = sum(r["total"].values()), sum(r["found"].values())
    print(f"{'all':<8}{all_total:>9,}{all_found:>10,}{all_found / max(all_total, 1):>9.2%}")
    print(
        f"ordinary-only texts changed: {r['changed_ordinary']:,} of {r['ordinary_texts']:,} "
        f"({r['changed_ordinary'] / max(r['ordinary_texts'], 1):.2%})"
    )
    print(
        f"ordinary numbers beside a planted value kept: {r['numbers_kept']:,} of "
        f"{r['numbers']:,} ({r['numbers_kept'] / max(r['numbers'], 1):.2%})"
    )
    print(f"scrub time: {r['seconds']:.2f} s ({args.n / r['seconds']:,.0f} texts/s)")
    for line in r["examples"]:
        print("  " + line)


if __name__ == "__main__":
    main()
