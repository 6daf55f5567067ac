"""Write the articles of a bbc-news style corpus.jsonl as one .txt file each, ready for a corpus folder.

    python scripts/bbc_to_files.py ../shared/eval/bbc-news/corpus.jsonl /tmp/bbc-files
    python -m qa add /tmp/bbc-files --corpus corpus-bbc --index index-bbc

Each record (`_id`, `title`, `text`, optional `metadata.publisher`) becomes `<_id>.txt` with a front-matter
header naming its title and publisher (BBC News unless the record says otherwise). The set states no dates,
so none is written: a date the article does not state is left empty.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.cli import reporting_failures  # noqa: E402
from qa.corpus import safe_name  # noqa: E402

PUBLISHER = "BBC News"


def article_file(record: dict) -> tuple[str, str]:
    """The file name and content of one record: front matter (title quoted, so its own quotes stay), then the text."""
    publisher = (record.get("metadata") or {}).get("publisher") or PUBLISHER
    title = " ".join(record["title"].split())
    content = f'---\ntitle: "{title}"\npublisher: {publisher}\n---\n{record["text"].strip()}\n'
    return safe_name(f"{record['_id']}.txt"), content


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jsonl", type=Path, help="corpus.jsonl with _id, title and text per line")
    parser.add_argument("out_dir", type=Path, help="folder to write the .txt files into (created if missing)")
    args = parser.parse_args(argv)
    with open(args.jsonl, encoding="utf-8") as handle:  # read first: a wrong path leaves no empty folder behind
        records = [json.loads(line) for line in handle if line.strip()]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for record in tqdm(records, unit="article", desc="Writing"):
        name, content = article_file(record)
        (args.out_dir / name).write_text(content, encoding="utf-8")
    print(f"wrote {len(records)} articles to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(reporting_failures(main))
