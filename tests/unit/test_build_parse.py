"""The builder's pure parts: Dockerfile parsing and its errors, word expansion, .dockerignore, the merged view
of layer directories, history and commit configs."""
from __future__ import annotations

import os

import pytest

from nsrun.build.context import ContextTree, Excluder, LayersTree, ignore_patterns, resolve_sources, tree_digest
from nsrun.build.dockerfile import DockerfileError, parse
from nsrun.build.words import WordError, expand, split
from nsrun.errors import ConfigError
from nsrun.image.commit import base_config, child_config
from nsrun.image.view import docker_history


def test_stages_instructions_and_forms():
    df = parse("# escape=`\nARG BASE=busybox\nFROM $BASE AS Build\nRUN echo a `\n  b\n"
               "COPY --from=build --chown=1:2 [\"a b\", \"/c\"]\n# comment\nCMD [\"x\"]\nONBUILD RUN true\n"
               "FROM build\nENV A=1 B=\"2 3\"\n")
    assert df.escape == "`" and [a.value for a in df.args] == [("BASE=busybox",)]
    one, two = df.stages
    assert (one.name, one.base, two.base) == ("build", "$BASE", "build")
    run, copy, cmd, onbuild = one.instructions
    assert run.cmd == "RUN" and run.line == 4 and not run.json and run.value == ("echo a   b",)
    assert copy.flags == {"from": "build", "chown": "1:2"} and copy.json and copy.value == ("a b", "/c")
    assert cmd.json and cmd.value == ("x",)
    assert onbuild.sub == "RUN" and onbuild.original == "ONBUILD RUN true"
    assert df.stage_index("BUILD") == 0 and df.stage_index("1") == 1 and df.stage_index("nope") is None
    assert df.steps(1) == 7
    assert two.instructions[0].value == ("A", "1", "B", '"2 3"')


@pytest.mark.parametrize("text, message", [
    ("FROM a\nFOO bar\n", "line 2: unknown instruction: FOO"),
    ("FROM a\n\nENV A\n", "line 3: ENV must have two arguments"),
    ("FROM a\nRUN\n", "line 2: RUN requires at least one argument"),
    ("FROM a\nCOPY x\n", "line 2: COPY requires at least two arguments"),
    ("EXPOSE 80\nFROM a\n", "line 1: no build stage in current context"),
    ("FROM a\nCOPY --bogus=1 a b\n", "line 2: unknown flag: --bogus"),
    ("FROM a\nRUN --mount=type=cache,target=/x true\n", "needs BuildKit"),
    ("FROM a AS 1x\n", "invalid name for build stage"),
    ("FROM a AS x\nFROM b AS x\n", "line 2: duplicate name 'x'"),
    ("FROM a b\n", "FROM requires either one or three arguments"),
    ("FROM a\nONBUILD FROM b\n", "FROM isn't allowed as an ONBUILD trigger"),
    ("# comment only\n", "the Dockerfile has no instructions"),
    ("ARG A=1\n", "no FROM"),
    ("# escape=x\nFROM a\n", "invalid ESCAPE"),
])
def test_errors_name_their_line(text, message):
    with pytest.raises(DockerfileError) as exc:
        parse(text)
    assert message in exc.value.message


def test_word_expansion():
    env = {"A": "x", "EMPTY": "", "SP": "a b"}
    assert expand("$A${A}-${A:-d}-${NOPE:-d}-${EMPTY:-e}-${EMPTY-e}-${A:+set}-${NOPE:+set}", env) == "xx-x-d-e--set-"
    assert expand("'$A'\"$A\"\\$A", env) == "$Ax$A"
    assert split('"$SP" c\\ d $SP x$A', env) == ["a b", "c d", "a", "b", "xx"]
    assert expand("`$A", env, escape="`") == "$A"
    assert expand("$", env) == "$" and expand("a$-b", env) == "a$-b"
    for bad in ("${A", "'open", '"open', "${A:?x}", "${}"):
        with pytest.raises(WordError):
            expand(bad, env)


def test_dockerignore_rules():
    ex = Excluder(ignore_patterns("# c\n\n*.log\n!keep.log\n/build\nsrc/**/*.tmp\n**/cache\n./x/../y\n"))
    assert ex.excluded("a.log") and not ex.excluded("keep.log") and not ex.excluded("d/a.log")
    assert ex.excluded("build") and ex.excluded("build/deep/file") and not ex.excluded("src/build")
    assert ex.excluded("src/a/b/c.tmp") and ex.excluded("src/c.tmp") and not ex.excluded("c.tmp")
    assert ex.excluded("cache") and ex.excluded("a/b/cache/f") and ex.excluded("y")
    assert not Excluder([]).excluded("anything")


def test_context_sources_stay_inside(tmp_path):
    (tmp_path / "ctx" / "dir").mkdir(parents=True)
    (tmp_path / "ctx" / "dir" / "f.txt").write_text("f")
    (tmp_path / "ctx" / "g.txt").write_text("g")
    (tmp_path / "outside").write_text("o")
    os.symlink(str(tmp_path / "outside"), tmp_path / "ctx" / "out")
    tree = ContextTree(str(tmp_path / "ctx"))
    assert resolve_sources(tree, ["*.txt", "dir/", "/dir/f.txt", "."], "COPY") == ["g.txt", "dir", "dir/f.txt", ""]
    for bad in ("../outside", "dir/../../outside", "out"):
        with pytest.raises(ConfigError, match="outside the build context"):
            resolve_sources(tree, [bad], "COPY")
    with pytest.raises(ConfigError, match="file not found"):
        resolve_sources(tree, ["nope*"], "COPY")
    before = tree_digest(tree, ["dir"])
    (tmp_path / "ctx" / "dir" / "f.txt").write_text("changed")
    assert tree_digest(tree, ["dir"]) != before


def test_layers_tree_merges_whiteouts_and_opaque_dirs(tmp_path):
    low, up = tmp_path / "low", tmp_path / "up"
    for d in (low / "etc", low / "opt" / "old", up / "opt"):
        d.mkdir(parents=True)
    (low / "etc" / "a").write_text("a")
    (low / "etc" / "gone").write_text("g")
    (low / "opt" / "old" / "x").write_text("x")
    (up / "etc").mkdir()
    (up / "etc" / "b").write_text("b")
    os.mknod(up / "etc" / "gone", 0o600 | 0o020000, 0)
    os.setxattr(up / "opt", "trusted.overlay.opaque", b"y")
    (up / "opt" / "new").write_text("n")
    tree = LayersTree([str(up), str(low)])
    assert tree.listdir("etc") == ["a", "b"] and tree.kind("etc/gone") is None
    assert tree.listdir("opt") == ["new"] and tree.kind("opt/old") is None
    assert tree.host("etc/a") == str(low / "etc" / "a")


def test_history_and_configs():
    base = base_config({"id": "sha256:" + "1" * 64, "created": 0,
                        "config": {"config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]}}})
    assert len(base["history"]) == 1  # one entry made for the layer that had none
    child = child_config(base, diff_id="sha256:" + "b" * 64, created_by="RUN x", comment="c", author="me")
    meta = child_config(child, diff_id=None, created_by="CMD")
    assert meta["rootfs"]["diff_ids"] == ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
    assert meta["history"][-1]["empty_layer"] and "author" not in meta
    view = docker_history({"id": "sha256:" + "2" * 64, "config": meta, "repo_tags": ["x"]}, [10, 20])
    assert [v["Size"] for v in view] == [0, 20, 10] and view[0]["Id"] == "sha256:" + "2" * 64
    assert view[0]["Tags"] == ["x:latest"] and view[1]["Comment"] == "c" and view[2]["Id"] == "<missing>"
