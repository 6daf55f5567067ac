"""The command line, called through main([...]) and checked through the library."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from qa import Embedder, Retriever, Settings
from qa.cli import VERBS, build_parser, main
from tests.conftest import REPO, SEED_QUESTION, add_syndicated_copy


def args_for(settings: Settings) -> list[str]:
    return ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]


def test_ask_json_returns_the_attributed_suspect_passage_in_the_top_3(
    seed_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", SEED_QUESTION, "-k", "3", "--json", *args_for(seed_settings)]) == 0
    result = json.loads(capsys.readouterr().out)
    suspect = [hit for hit in result["hits"] if "Kataeb Sayyid al-Shuhada is the key suspect" in hit["text"]]
    assert suspect
    assert suspect[0]["publisher"] == "Middle East Eye" and suspect[0]["date"] == "2021-11-28"
    assert suspect[0]["title"].startswith("Betrayed by Iran?")
    assert all(hit["answer_text"] in hit["text"] for hit in result["hits"])


def test_ask_gives_the_answer_phrase_in_short(seed_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "How many drones were used?", *args_for(seed_settings)]) == 0
    assert "\n  In short: three\n" in capsys.readouterr().out
    assert main(["ask", "How many drones were used?", "--json", *args_for(seed_settings)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["phrase"] == "three" and result["source"]["text"][slice(*result["phrase_span"])] == "three"


def test_ask_as_text_names_the_sources(seed_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", SEED_QUESTION, "-k", "2", "--mode", "bm25", *args_for(seed_settings)]) == 0
    out = capsys.readouterr().out
    assert "1. " in out and "Middle East Eye" in out
    assert re.search(r"^1\. .* \((Strong|Good|Weak) match\)$", out, flags=re.M)


def test_ask_as_text_names_a_passages_copies_and_indents_all_of_it(fresh_settings: Settings,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Wire copy folded into a passage is named under it (it was only in --json), and a passage of several lines
    is indented throughout (only its first line was), so passages stay apart from their citations."""
    add_syndicated_copy(fresh_settings.corpus_dir)
    assert main(["build", *args_for(fresh_settings)]) == 0
    capsys.readouterr()
    assert main(["ask", SEED_QUESTION, *args_for(fresh_settings)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^   the same text also in .*(Gulf Wire|Middle East Eye)", out, flags=re.M)
    passages = out.split("\n1. ", 1)[1]
    assert all(line.startswith(("   ", "2. ", "3. ", "4. ", "5. ")) for line in passages.splitlines()[1:] if line)


def test_ask_with_source_filter(seed_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", SEED_QUESTION, "--json", "--source", "Track Persia", *args_for(seed_settings)]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits and {hit["publisher"] for hit in hits} == {"Track Persia"}


def test_info_lists_documents_and_model(seed_settings: Settings, embedder: Embedder,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", *args_for(seed_settings)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["manifest"]["model"] == embedder.model_id
    assert info["manifest"]["model"].startswith("sentence-transformers/all-MiniLM-L6-v2")
    assert {doc["publisher"] for doc in info["documents"]} == {"Middle East Eye", "Track Persia"}
    assert main(["info", *args_for(seed_settings)]) == 0
    assert "built:" in capsys.readouterr().out


def test_build_then_add_then_remove(fresh_settings: Settings, embedder: Embedder, tmp_path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", *args_for(fresh_settings)]) == 0
    assert "2 added" in capsys.readouterr().out
    article = tmp_path / "falcons.md"
    article.write_text("---\ntitle: Falcons\npublisher: Nature Desk\n---\nFalcons nest on the cliffs of Duhok.\n")
    assert main(["add", str(article), *args_for(fresh_settings)]) == 0
    assert "added: falcons.md" in capsys.readouterr().out
    retriever = Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)
    assert retriever.search("where do falcons nest", k=1)[0].publisher == "Nature Desk"
    assert main(["remove", "falcons.md", *args_for(fresh_settings)]) == 0
    assert "removed: falcons.md" in capsys.readouterr().out
    assert all(h.publisher != "Nature Desk" for h in retriever.refreshed().search("where do falcons nest", k=5))
    assert (fresh_settings.corpus_dir / ".removed").is_dir(), "removed files are kept, not deleted"


def test_add_checks_every_path_before_copying_any(fresh_settings: Settings, tmp_path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "orchard.txt"
    good.write_text("The orchard produced a record apple harvest.\n")
    sheet = tmp_path / "sheet.xyz"
    sheet.write_text("x")
    before = sorted(path.name for path in fresh_settings.corpus_dir.iterdir())
    for bad in (tmp_path / "typo.txt", sheet, fresh_settings.corpus_dir):
        assert main(["add", str(good), str(bad), *args_for(fresh_settings)]) == 1
        assert str(bad.name) in capsys.readouterr().err
        assert sorted(path.name for path in fresh_settings.corpus_dir.iterdir()) == before, bad


def test_documents_of_types_not_read_are_named_by_build_and_add(fresh_settings: Settings, tmp_path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """An e-mail, an RTF and an OpenDocument file saved into the corpus were skipped without a word ("0 failed"),
    and adding two such files named only the first: each is now named, with the types that are read. A saved
    page's image is no document and stays unsaid."""
    for name in ("tip.eml", "release.rtf", "notes.odt", "photo.jpg"):
        (fresh_settings.corpus_dir / name).write_bytes(b"Subject: the drones\n\nThree were launched.\n")
    assert main(["build", *args_for(fresh_settings)]) == 0
    out, err = capsys.readouterr()
    said = out + err
    for name in ("tip.eml", "release.rtf", "notes.odt"):
        assert re.search(rf"{re.escape(name)}.*not read: \.\w+ is not a type read; save it as \.txt", said), said
    assert "photo.jpg" not in said
    assert "0 failed, 3 not read" in out and "failed:" not in err  # a monitor alerting on failures stays quiet
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("tip.eml", "notes.odt"):
        (inbox / name).write_bytes(b"Subject: the drones\n")
    assert main(["add", str(inbox / "tip.eml"), str(inbox / "notes.odt"), *args_for(fresh_settings)]) == 1
    err = capsys.readouterr().err
    assert "tip.eml was not added" in err and "notes.odt was not added" in err and err.count("\n") == 1
    for name in ("tip.eml", "notes.odt"):
        (inbox / name).unlink()
    (inbox / "orchard.txt").write_text("The orchard produced a record apple harvest.\n")
    (inbox / "memo.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    assert main(["add", str(inbox), *args_for(fresh_settings)]) == 0
    assert f"not added: {inbox / 'memo.doc'} (not read: .doc is not a type read" in capsys.readouterr().err


def test_add_of_a_folder_skips_hidden_files_and_moves_out_what_cannot_be_indexed(
        fresh_settings: Settings, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder's `.removed/` (or any hidden) files are not brought back, and an empty file or a copy of a
    document already indexed does not stay in the corpus to be reported at every build."""
    assert main(["build", *args_for(fresh_settings)]) == 0
    folder = tmp_path / "inbox"
    (folder / ".removed").mkdir(parents=True)
    (folder / ".removed" / "old.txt").write_text("An article that was removed.\n")
    (folder / "empty.txt").write_text("")
    (folder / "orchard.txt").write_text("The orchard produced a record apple harvest.\n")
    seed = next(fresh_settings.corpus_dir.glob("trackpersia*.txt"))
    (folder / "copy.txt").write_bytes(seed.read_bytes())
    capsys.readouterr()
    assert main(["add", str(folder), *args_for(fresh_settings)]) == 0
    out, err = capsys.readouterr()
    assert "added: orchard.txt" in out and "old.txt" not in out + err
    assert "not added: empty.txt (file is empty)" in err and f"not added: copy.txt (same content as {seed.name})" in err
    assert sorted(path.name for path in fresh_settings.corpus_dir.glob("*.txt")) == sorted(
        [seed.name, "orchard.txt", *(p.name for p in fresh_settings.corpus_dir.glob("middleeasteye*.txt"))])
    assert main(["add", str(folder / "empty.txt"), *args_for(fresh_settings)]) == 1  # nothing was added


def test_errors_are_one_line_messages_with_exit_code_1(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", SEED_QUESTION, "--index", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no index") and err.count("\n") == 1


def test_with_json_an_error_is_json_too(seed_settings: Settings, tmp_path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A script piping `--json` into jq gets an object with the reason, not an empty stream."""
    assert main(["info", "--json", "--index", str(tmp_path / "none")]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["error"].startswith("no index") and err.startswith("error: no index")
    assert main(["ask", " ", "--json", *args_for(seed_settings)]) == 1
    assert "question is empty" in json.loads(capsys.readouterr().out)["error"]


def test_info_says_when_a_changed_file_failed_and_its_previous_version_is_still_searched(
        fresh_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", *args_for(fresh_settings)]) == 0
    article = next(fresh_settings.corpus_dir.glob("trackpersia*.txt"))
    article.write_bytes(b"\x00\x01 binary now")
    main(["build", *args_for(fresh_settings)])
    capsys.readouterr()
    assert main(["info", *args_for(fresh_settings)]) == 0
    assert (f"{article.name}: its new version could not be read; the previous one is still searched: binary data"
            in capsys.readouterr().out)


def test_empty_question_is_refused(seed_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "  ", *args_for(seed_settings)]) == 1
    assert "question is empty" in capsys.readouterr().err


def test_a_source_that_matches_nothing_lists_the_sources(seed_settings: Settings,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", SEED_QUESTION, "--source", "Reuters", *args_for(seed_settings)]) == 0
    assert "No passages match these filters; the sources are Middle East Eye, Track Persia" in capsys.readouterr().out


def test_dates_in_the_wrong_order_are_refused(seed_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", SEED_QUESTION, "--since", "2022", "--until", "2021-11", *args_for(seed_settings)]) == 1
    assert "the start date 2022 is after the end date 2021-11" in capsys.readouterr().err


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([verb, "--help"])
    assert exited.value.code == 0
    assert "usage: python -m qa " + verb in capsys.readouterr().out


def test_info_shows_files_that_failed_with_their_reason(fresh_settings: Settings,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (fresh_settings.corpus_dir / "empty.txt").write_text("")
    assert main(["build", *args_for(fresh_settings)]) == 0
    assert "failed: empty.txt: file is empty" in capsys.readouterr().err
    assert main(["info", *args_for(fresh_settings)]) == 0
    assert "empty.txt: not indexed: file is empty" in capsys.readouterr().out
    assert main(["info", "--json", *args_for(fresh_settings)]) == 0
    assert json.loads(capsys.readouterr().out)["failed"] == [{"doc_id": "empty.txt", "status": "failed: file is empty"}]


@pytest.mark.parametrize("bad", [["-k", "0"], ["-k", "-1"], ["-k", "many"], ["-k", "1000"],
                                 ["--since", "2021-13-45"], ["--until", "2021-02-30"]])
def test_bad_arguments_are_usage_errors_naming_the_value(seed_settings: Settings, bad: list[str],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["ask", SEED_QUESTION, *bad, *args_for(seed_settings)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert bad[1] in err and "Traceback" not in err


def test_a_question_or_source_of_invalid_utf8_bytes_is_a_usage_error(
        seed_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    broken = b"who attacked \xff\xfe Kadhimi".decode("utf-8", "surrogateescape")  # what a shell passes for such bytes
    for argv in (["ask", broken], ["ask", SEED_QUESTION, "--source", broken]):
        with pytest.raises(SystemExit) as stopped:
            main([*argv, *args_for(seed_settings)])
        assert stopped.value.code == 2 and "not valid UTF-8" in capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize("argv", [["serve", "--port", "99999"], ["eval", "data", "--every", "0"],
                                  ["build", "--workers", "0"]])
def test_out_of_range_numbers_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and "whole number" in capsys.readouterr().err


def test_bad_settings_in_the_environment_are_one_line_errors(seed_settings: Settings, tmp_path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("QA_BATCH_DOCUMENTS", "abc")
    assert main(["info", *args_for(seed_settings)]) == 1
    assert capsys.readouterr().err == "error: QA_BATCH_DOCUMENTS must be a whole number of 1 or more, not 'abc'\n"
    monkeypatch.delenv("QA_BATCH_DOCUMENTS")
    monkeypatch.setenv("QA_CORPUS_DIR", "")
    assert Settings.from_env().corpus_dir == Settings().corpus_dir  # empty is unset, not the current folder
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not an index")
    for verb in ("info", "build", "check"):  # check said "CURRENT cannot be read (Not a directory)... run build"
        assert main([verb, "--corpus", str(seed_settings.corpus_dir), "--index", str(a_file)]) == 1
        assert "notes.txt is a file, not an index folder" in capsys.readouterr().err
    for verb in ("info", "build", "check"):  # build printed a raw NotADirectoryError, the others "damaged"
        assert main([verb, "--corpus", str(seed_settings.corpus_dir), "--index", str(a_file / "index")]) == 1
        assert capsys.readouterr().err == (f"error: {a_file / 'index'} cannot be a folder: {a_file} is a file; point "
                                           "--index (or QA_INDEX_DIR) at a folder\n")


def test_a_document_cannot_send_escape_sequences_to_the_terminal(fresh_settings: Settings,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (fresh_settings.corpus_dir / "prank.txt").write_text(
        "---\ntitle: Harbour \x1b[31mnews\n---\nThe harbour \x1b]0;pwned\x07bridge opened in \x1b[2Jspring.\n")
    assert main(["build", *args_for(fresh_settings)]) == 0
    for argv in (["ask", "when did the harbour bridge open", "-k", "1"], ["info"]):
        assert main([*argv, *args_for(fresh_settings)]) == 0
        out = capsys.readouterr().out
        assert "Harbour [31mnews" in out and "\x1b" not in out and "\x07" not in out, argv


def test_a_reader_closing_the_pipe_early_is_not_an_error(seed_settings: Settings) -> None:
    """`python -m qa info | head -1`: the rest of the output has nowhere to go, which is no failure."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    done = subprocess.run([sys.executable, "-m", "qa", "info", *args_for(seed_settings)], stdout=write_end,
                          stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=120)
    os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("script", ["bbc_to_files.py", "benchmark.py", "calibrate_answer_model.py",
                                    "compare_stores.py", "fit_answer_choice.py", "train_answer_model.py",
                                    "tune_rerank.py"])
def test_a_script_given_a_missing_data_folder_says_so_in_one_line(script: str, tmp_path) -> None:
    """As the verbs do: `error: ...` and exit status 1, never a traceback, and nothing started or written."""
    missing = str(tmp_path / "nowhere")
    arguments = [missing, missing] if script in ("train_answer_model.py", "bbc_to_files.py") else [missing]
    done = subprocess.run([sys.executable, str(REPO / "scripts" / script), *arguments], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "nowhere" in done.stderr and not (tmp_path / "nowhere").exists()
