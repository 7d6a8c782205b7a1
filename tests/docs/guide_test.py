#!/usr/bin/env python3
"""Follows docs/guide.md: every ```sh block, in order, in a scratch directory that sees the
repository's data/ and tests/ as the guide asks, with mozart on PATH. A command that fails
fails the test, naming its block.

    guide_test.py GUIDE.md REPOSITORY MOZART_BINARY
"""
import os
import re
import subprocess
import sys
import tempfile


def blocks(text):
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)


def main(guide, repository, mozart):
    with open(guide, encoding="utf-8") as f:
        commands = blocks(f.read())
    if not commands:
        print(f"{guide}: no ```sh block to run")
        return 1
    env = dict(os.environ, PATH=os.path.dirname(os.path.abspath(mozart)) + os.pathsep +
               os.environ.get("PATH", ""))
    with tempfile.TemporaryDirectory(prefix="mozart-guide-") as work:
        for name in ("data", "tests"):
            os.symlink(os.path.join(repository, name), os.path.join(work, name))
        for i, block in enumerate(commands, 1):
            done = subprocess.run(["sh", "-e", "-c", block], cwd=work, env=env,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{guide}: block {i} failed (exit {done.returncode}):\n{block}")
                print(done.stdout[-2000:], done.stderr[-2000:])
                return 1
            print(f"block {i} ok: {block.splitlines()[0]}")
        for page in ("step-run", "place-run", "sweep-run"):
            if not os.path.exists(os.path.join(work, page, "report.html")):
                print(f"{guide}: no {page}/report.html after the guide")
                return 1
    print(f"{len(commands)} blocks of {guide} ran")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
