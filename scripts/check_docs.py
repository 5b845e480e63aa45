#!/usr/bin/env python3
"""Checks README.md and docs/ against the code, so a renamed column, table, flag or key breaks
the build instead of the reader. Run by scripts/check-docs.sh (`make test`), which builds the
demo's output first.

  (a) every ```sql block runs with DuckDB against the demo's output, after the views that
      `postpress-etl views` prints for it, and every SELECT in it returns at least one row
      (a block right after `<!-- docs-check: skip REASON -->` is counted as skipped, with its
      reason: the S3 examples, which need a bucket);
  (b) every relative link and #anchor in README.md and docs/ resolves (GitHub's heading slugs);
  (c) docs/cli.md is exactly what `--write-cli` generates from the binary's `--help`;
  (d) docs/job-file.md lists exactly the keys each table of the job file accepts, asked of
      `postpress-etl validate` with an unknown key (serde's deny_unknown_fields lists them);
  (e) `make help` lists every target of the Makefile.
A ```text block right after a ```sql block is its sample answer: its header must name the
result's columns and its rows (or its closing "… N rows in all") count the result's rows.

Usage: check_docs.py --bin target/debug/postpress-etl --out DEMO_OUTPUT
       check_docs.py --bin target/debug/postpress-etl --write-cli   (regenerates docs/cli.md)
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))

# Pages other branches are writing: a link to one is allowed to dangle until it lands, and is
# checked like any other once it exists.
PENDING = {"docs/reliability.md"}

# The subcommands whose --help docs/cli.md shows, in this order.
COMMANDS = ["", "run", "validate", "finalize", "prune", "erase", "views", "schema"]

FENCE = re.compile(r"^( *)(```+|~~~+)\s*([\w+-]*)")
SKIP = re.compile(r"<!--\s*docs-check:\s*skip\s+(.*?)\s*-->")


def rel(p):
    return str(Path(p).resolve().relative_to(ROOT))


def blocks(path):
    """(language, first line number, text, skip reason) of every fenced block."""
    lines = path.read_text(encoding="utf-8").split("\n")
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3).lower()
        skip = None
        for back in range(i - 1, max(-1, i - 3), -1):
            s = SKIP.search(lines[back])
            if s:
                skip = s.group(1)
                break
            if lines[back].strip():
                break
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence[:3]):
            body.append(lines[j][indent:] if lines[j].startswith(" " * indent) else lines[j])
            j += 1
        out.append((lang, i + 1, "\n".join(body), skip))
        i = j + 1
    return out


def prose(path):
    """The file's lines outside fenced blocks, inline code blanked, with their numbers."""
    infence = False
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if FENCE.match(line):
            infence = not infence
            continue
        if not infence:
            yield n, re.sub(r"`[^`]*`", "``", line)


def slug(heading):
    """GitHub's anchor for a heading (github-slugger): the rendered text, lowercased, with
    everything but letters, marks, numbers, connector punctuation, spaces and hyphens removed,
    spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    keep = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in " -" or cat[0] in "LMN" or cat == "Pc":
            keep.append(ch)
    return "".join(keep).replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    infence = False
    for line in path.read_text(encoding="utf-8").split("\n"):
        if FENCE.match(line):
            infence = not infence
            continue
        m = re.match(r"^#{1,6} (.*)$", line)
        if m and not infence:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            out.add(base if n == 0 else f"{base}-{n}")
            seen[base] = n + 1
    return out


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def ok(self):
        self.passed += 1

    def fail(self, where, why):
        self.failed.append(f"{where}: {why}")


def check_links(c):
    links = anchored = pending = 0
    for path in DOCS:
        for n, line in prose(path):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"^[a-z]+:", target):
                    continue
                links += 1
                where = f"{rel(path)}:{n}"
                file_part, _, anchor = target.partition("#")
                dest = (path.parent / file_part).resolve() if file_part else path
                try:
                    dest_rel = rel(dest)
                except ValueError:
                    c.fail(where, f"link {target} leaves the repository")
                    continue
                if not dest.exists():
                    if dest_rel in PENDING:
                        pending += 1
                        c.ok()
                    else:
                        c.fail(where, f"link {target}: {dest_rel} does not exist")
                    continue
                if anchor:
                    anchored += 1
                    if dest.suffix != ".md" or anchor not in anchors(dest):
                        c.fail(where, f"link {target}: no heading #{anchor} in {dest_rel}")
                        continue
                c.ok()
    return links, anchored, pending


def check_sql(c, bin_, out, job):
    import duckdb

    views = subprocess.run(
        [bin_, "views", str(job), "--output", str(out)],
        capture_output=True, text=True, check=False,
    )
    if views.returncode != 0:
        c.fail("postpress-etl views", f"exit {views.returncode}: {views.stderr.strip()}")
        return 0, 0, []
    created = views.stdout.count("CREATE OR REPLACE VIEW")
    if created != 7:
        c.fail("postpress-etl views", f"created {created} views over the demo's output, want 7")
    run = statements = answers = 0
    skipped = []
    samples = {}
    for path in DOCS:
        bs = blocks(path)
        for (lang, line, text, _skip), nxt in zip(bs, bs[1:]):
            # The text block follows the SQL block's closing fence, at most a blank line apart.
            if lang == "sql" and nxt[0] == "text" and nxt[1] <= line + text.count("\n") + 4:
                samples[(path, line)] = nxt[2]
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as work:
        # Examples may read the demo's ./out by path, as the demo leaves it.
        os.symlink(out, Path(work) / "out")
        os.chdir(work)
        try:
            for path in DOCS:
                for lang, line, text, skip in blocks(path):
                    if lang != "sql":
                        continue
                    where = f"{rel(path)}:{line}"
                    if skip:
                        skipped.append(f"{where} ({skip})")
                        continue
                    run += 1
                    con = duckdb.connect()
                    con.execute(views.stdout)
                    try:
                        good, last = True, None
                        for st in con.extract_statements(text):
                            statements += 1
                            res = con.execute(st.query)
                            if st.type == duckdb.StatementType.SELECT:
                                cols = [d[0] for d in res.description]
                                last = (cols, res.fetchall())
                                if not last[1]:
                                    c.fail(where, f"returned no row: {st.query.strip()[:120]}")
                                    good = False
                        answer = samples.get((path, line))
                        if good and answer is not None and last is not None:
                            why = sample_differs(answer, *last)
                            if why:
                                c.fail(where, f"its sample answer is stale: {why}")
                                good = False
                            else:
                                answers += 1
                        if good:
                            c.ok()
                    except duckdb.Error as e:
                        c.fail(where, f"{type(e).__name__}: {str(e).splitlines()[0]}")
                    finally:
                        con.close()
        finally:
            os.chdir(cwd)
    return run, statements, skipped, answers


def sample_differs(answer, cols, rows):
    """Why a ```text sample printed under a query no longer matches its result: the header line
    must name the result's columns, and the rows shown (or the "… N rows in all" line) must
    count its rows."""
    lines = [l for l in answer.split("\n") if l.strip()]
    if not lines or lines[0].split() != cols:
        return f"header {lines[0].split() if lines else []} but the query gives {cols}"
    m = re.match(r"^… (\d+) rows in all$", lines[-1])
    want = int(m.group(1)) if m else len(lines) - 1
    if want != len(rows):
        return f"it shows {want} rows, the query gives {len(rows)}"
    return None


def check_make_help(c):
    """`make help` lists every target of the Makefile (each needs a `## ` comment)."""
    targets = re.findall(r"^([a-z0-9-]+):", (ROOT / "Makefile").read_text(), re.M)
    r = subprocess.run(["make", "-s", "-C", str(ROOT), "help"], capture_output=True, text=True, check=False)
    listed = {l.split()[0] for l in r.stdout.splitlines() if l.strip()}
    missing = [t for t in targets if t not in listed]
    if r.returncode != 0 or missing:
        c.fail("Makefile", f"make help does not list {missing or r.stderr.strip()}: give each target a `## ` comment")
    else:
        c.ok()
    return len(targets)


def help_text(bin_, cmd):
    args = [bin_] + ([cmd] if cmd else []) + ["--help"]
    r = subprocess.run(args, capture_output=True, text=True, check=False,
                       env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"})
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r.stdout.rstrip("\n")


def cli_page(bin_):
    parts = [
        "# Command-line reference",
        "",
        "<!-- Generated by `scripts/check_docs.py --write-cli` from the binary's own `--help`; "
        "`make test` fails when it differs. Do not edit by hand. -->",
        "",
        "Every command, its flags and one example, exactly as `--help` prints them. What the exit",
        "codes mean for a scheduler: [operating.md](operating.md#exit-codes-and-retries); the job",
        "file: [job-file.md](job-file.md).",
        "",
    ]
    for cmd in COMMANDS:
        title = f"postpress-etl {cmd}".strip()
        parts += [f"## `{title}`", "", "```text", f"$ {title} --help", help_text(bin_, cmd), "```", ""]
    return "\n".join(parts)


def check_cli(c, bin_):
    page = ROOT / "docs" / "cli.md"
    want = cli_page(bin_)
    have = page.read_text(encoding="utf-8") if page.exists() else ""
    if have.rstrip("\n") != want.rstrip("\n"):
        c.fail("docs/cli.md", "differs from the binary's --help; regenerate it with "
               "`.venv/bin/python scripts/check_docs.py --bin target/debug/postpress-etl --write-cli`")
    else:
        c.ok()
    return len(COMMANDS)


# Where a key goes in a probe job file, per table of docs/job-file.md.
PROBES = {
    "top": 'name = "probe"\n{key} = 1\n',
    "api": 'name = "probe"\n[api]\n{key} = 1\n',
    "fetch": 'name = "probe"\n[fetch]\n{key} = 1\n',
    "output": 'name = "probe"\n[output]\n{key} = 1\n',
    "accounts": 'name = "probe"\n[[accounts]]\n{key} = 1\n',
    "retention": 'name = "probe"\n[retention]\n{key} = 1\n',
}


def accepted_keys(bin_, table, work):
    job = Path(work) / f"{table}.toml"
    job.write_text(PROBES[table].format(key="docs_check_unknown_key"))
    r = subprocess.run([bin_, "validate", str(job)], capture_output=True, text=True, check=False,
                       env={**os.environ, "POSTPRESS_API_KEY": "docs-check"})
    m = re.search(r"unknown field `docs_check_unknown_key`, expected (?:one of )?(.*)", r.stderr)
    if r.returncode != 2 or not m:
        raise RuntimeError(f"validate did not list the keys of {table}: {r.stderr.strip()}")
    return set(re.findall(r"`([^`]+)`", m.group(1)))


def documented_keys(page):
    """{table: keys} from the tables after each `<!-- keys: TABLE -->` marker, and the keys after
    `<!-- keys-coming: TABLE -->` (specified, not accepted yet) separately."""
    now, coming, current = {}, {}, None
    for line in page.read_text(encoding="utf-8").split("\n"):
        m = re.match(r"<!--\s*keys(-coming)?:\s*(\w+)\s*-->", line.strip())
        if m:
            current = (coming if m.group(1) else now).setdefault(m.group(2), set())
            continue
        if current is None:
            continue
        row = re.match(r"^\|\s*`([a-z_]+)`", line)
        if row:
            current.add(row.group(1))
        elif line.strip() and not line.startswith("|"):
            current = None
    return now, coming


def check_job_keys(c, bin_):
    page = ROOT / "docs" / "job-file.md"
    now, coming = documented_keys(page)
    n = 0
    with tempfile.TemporaryDirectory() as work:
        for table in PROBES:
            code = accepted_keys(bin_, table, work)
            doc = now.get(table, set())
            n += len(code | doc)
            for k in sorted(code - doc):
                c.fail("docs/job-file.md", f"[{table}] key `{k}` is accepted by the code but not documented")
            for k in sorted(doc - code):
                c.fail("docs/job-file.md", f"[{table}] key `{k}` is documented but the code refuses it")
            if code == doc:
                c.ok()
        top = accepted_keys(bin_, "top", work)
        for table, keys in coming.items():
            n += len(keys)
            if table in top:
                c.fail("docs/job-file.md", f"[{table}] is marked coming, but the code accepts it now: "
                       "document its keys as working")
            else:
                c.ok()
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the postpress-etl binary")
    ap.add_argument("--out", help="the demo's output directory")
    ap.add_argument("--job", default=str(ROOT / "jobs" / "demo.toml"))
    ap.add_argument("--write-cli", action="store_true", help="regenerate docs/cli.md and exit")
    a = ap.parse_args()
    bin_ = str(Path(a.bin).resolve())
    if a.write_cli:
        (ROOT / "docs" / "cli.md").write_text(cli_page(bin_) + "\n", encoding="utf-8")
        print("docs: wrote docs/cli.md")
        return 0
    if not a.out:
        ap.error("--out is required")
    c = Checks()
    run, statements, skipped, answers = check_sql(c, bin_, Path(a.out).resolve(), Path(a.job).resolve())
    links, anchored, pending = check_links(c)
    helps = check_cli(c, bin_)
    keys = check_job_keys(c, bin_)
    targets = check_make_help(c)
    print(f"docs: {len(DOCS)} pages; {run} SQL blocks run ({statements} statements) against the "
          f"demo's output, {answers} sample answers matched, {len(skipped)} skipped")
    for s in skipped:
        print(f"  skipped {s}")
    print(f"docs: {links} relative links checked ({anchored} with an #anchor, {pending} to a page "
          f"still being written: {', '.join(sorted(PENDING))})")
    print(f"docs: docs/cli.md against {helps} --help outputs; docs/job-file.md against {keys} keys; "
          f"make help against {targets} targets")
    for f in c.failed:
        print(f"FAILED {f}")
    print(f"docs: {c.passed} passed, {len(c.failed)} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
