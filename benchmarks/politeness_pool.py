"""How much polite and impolite text the registry corpora hold, selected by politeness markers
(the issue's suggested route to a politeness pair). Reads the built corpora (`prosemix corpora`).

    python benchmarks/politeness_pool.py [--corpora corpora]

A sentence of 20-300 characters is polite when it has a politeness marker and no rudeness
marker, impolite when the reverse; "addressed" impolite sentences also speak to someone (you,
thou, thee), which is what politeness is about. Prints the pool per corpus and in all.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.machine import describe_machine  # noqa: E402
from engine.training.corpora import sentences  # noqa: E402

POLITE = re.compile(r"\b(please|thank you|thanks|would you (?:kindly|be so)|could you|kindly|i beg your pardon|"
                    r"pardon me|excuse me|if you would be so|i am obliged|much obliged|i'm sorry|i am sorry|"
                    r"forgive me)\b", re.I)
RUDE = re.compile(r"\b(shut up|you idiot|you fool|idiot|stupid|moron|dumb|get out|go away|how dare you|damn you|"
                  r"you(?:'re| are) (?:an? )?(?:idiot|fool|liar|stupid|useless)|be quiet|hold your tongue|knave|"
                  r"villain)\b", re.I)
ADDRESSED = re.compile(r"\b(you|thou|thee)\b", re.I)
CORPORA = ("austen", "wry", "informal", "humorous", "serious", "formal", "fable", "shakespeare")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpora", default=str(ROOT / "corpora"))
    args = ap.parse_args()
    print(describe_machine())
    print("| corpus | sentences | polite (KB) | impolite | impolite, addressed (KB) |\n|---|---|---|---|---|")
    totals = [0, 0, 0.0, 0, 0, 0.0]
    for name in CORPORA:
        path = Path(args.corpora) / f"{name}.txt"
        if not path.is_file():
            print(f"| {name} | (not built) | | | |")
            continue
        found = [s for s in sentences(path.read_text(encoding="utf-8")) if 20 <= len(s) <= 300]
        polite = [s for s in found if POLITE.search(s) and not RUDE.search(s)]
        rude = [s for s in found if RUDE.search(s) and not POLITE.search(s)]
        addressed = [s for s in rude if ADDRESSED.search(s)]
        row = [len(found), len(polite), sum(map(len, polite)) / 1e3, len(rude), len(addressed),
               sum(map(len, addressed)) / 1e3]
        totals = [t + r for t, r in zip(totals, row)]
        print(f"| {name} | {row[0]} | {row[1]} ({row[2]:.0f}) | {row[3]} | {row[4]} ({row[5]:.0f}) |")
    print(f"| all | {totals[0]} | {totals[1]} ({totals[2]:.0f}) | {totals[3]} | {totals[4]} ({totals[5]:.0f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
