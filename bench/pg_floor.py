#!/usr/bin/env python3
"""Turns one captured purchase into a pgbench script (see pg_floor.sh).

Reads a PostgreSQL log written with log_statement = 'all' while one till made purchases
one after another, takes the statements of one of the last purchases of the run (from
the end of the previous Confirm to the end of its own), and writes them as a pgbench
script that makes a new purchase per transaction. A parameter that is the same in the
next purchase stays as it was; of those that differ,

- the purchase key becomes a fresh key per transaction (`:r`), and every literal that
  contains it (operation ids, descriptions, the live operations' JSON) is rebuilt around it;
- the member becomes a random one of the setup's (`:m`), its wallet `:m + offset`;
- the hold made by the payment call (accrue_pay; accrue_pay_known before 0035) is taken from its
  answer (`\\gset`), and the purchase's id is looked up where a statement names it;
- BEGIN and COMMIT stay where the server sent them.

Usage: pg_floor.py LOG DATABASE_URL > purchase.sql
"""
import re
import subprocess
import sys

EXECUTE = re.compile(r"\[(\d+)\] \S+ LOG:  (?:execute [^:]+|statement): (.*)$")
PARAMS = re.compile(r"\$(\d+) = (NULL|'((?:[^']|'')*)')")
BACKGROUND = ("outbox_messages", "batch_requests", "pg_notify", "LISTEN", "processing_settings")


def statements(log):
    """(sql, {n: literal}) of every statement in the log, in order, parameters attached."""
    out = []
    for line in log:
        if " DETAIL:  parameters: " in line and out:
            out[-1][1].update({int(m.group(1)): m.group(2) for m in PARAMS.finditer(line)})
            continue
        m = EXECUTE.search(line)
        if m:
            out.append((m.group(2), {}))
    return [(sql, p) for sql, p in out if not any(b in sql for b in BACKGROUND)]


def two_purchases(all_statements, members):
    """The statements of the run's last two whole purchases: what differs between them is
    what belongs to a purchase. Their tills' members had bought before, so the server's
    caches held them as they do in a long run."""
    confirms = [i for i, (sql, _) in enumerate(all_statements) if "accrue_confirm(" in sql]
    if len(confirms) < members + 3:
        sys.exit(f"pg_floor.py: {len(confirms)} purchases in the log, not one more than the {members} members")
    a = all_statements[confirms[-3] + 1 : confirms[-2] + 1]
    b = all_statements[confirms[-2] + 1 : confirms[-1] + 1]
    if [sql for sql, _ in a] != [sql for sql, _ in b]:
        sys.exit("pg_floor.py: two purchases in a row ran different statements")
    return a, b


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atc", sql], check=True, capture_output=True, text=True).stdout.strip()


def literal(text):
    """A literal pgbench leaves alone: its colons would otherwise start variables."""
    if ":" in text or "\\" in text:
        return "E'" + text.replace("\\", "\\\\").replace(":", "\\x3a") + "'"
    return "'" + text + "'"


# The call that makes the payment: accrue_pay, or accrue_pay_known in builds before migration 0035.
PAYS = re.compile(r"accrue_pay(_known)?\(")


def main():
    log_path, url = sys.argv[1], sys.argv[2]
    members = psql(url, "SELECT min(id) || ' ' || max(id) || ' ' || count(*) FROM members").split()
    with open(log_path, encoding="utf-8", errors="replace") as f:
        taken, next_one = two_purchases(statements(f.read().split("\n")), int(members[2]))
    pay = next(p for sql, p in taken if PAYS.search(sql))
    program = pay[1].strip("'")
    key = pay[2].strip("'")
    member = pay[5].strip("'")
    wallet = pay[7].strip("'")
    offset = int(wallet) - int(member)
    same_offset = psql(
        url,
        f"SELECT bool_and(a.id - m.id = {offset}) FROM members m JOIN accounts a "
        "ON a.member_id = m.id AND a.kind = 'wallet'",
    )
    if same_offset != "t":
        sys.exit("pg_floor.py: members' wallets are not at one offset from the members")
    purchase_id, hold_id = psql(
        url,
        f"SELECT p.id || ' ' || o.hold_id FROM purchases p JOIN purchase_operations o "
        f"ON o.purchase_key = p.purchase_key WHERE p.purchase_key = '{key}' AND o.kind = 'payment'",
    ).split()
    key_expr = "('pb-' || :r)"

    def value(v, other, after_pay):
        if v == "NULL":
            return v
        text = v[1:-1].replace("''", "'")
        if v != other:  # the purchase's own: its key, member, wallet, ids
            if text == member:
                return ":m"
            if text == wallet:
                return f"(:m + {offset})"
            if text == purchase_id:
                return f"(SELECT id FROM purchases WHERE program_id = {program} AND purchase_key = {key_expr})"
            if after_pay:
                text = re.sub(rf'"payment",{hold_id}\]', '"payment",\x00]', text)
            if key in text or "\x00" in text:
                parts = re.split(f"({re.escape(key)}|\x00)", text)
                pieces = [key_expr if p == key else ":o_hold" if p == "\x00" else literal(p) for p in parts if p]
                return "(" + " || ".join(pieces) + ")"
        if re.fullmatch(r"[1-9][0-9]{0,17}", text):
            return text  # a number, typed as one
        return literal(text)

    lines = ["\\set r random(1, 1000000000000000)", f"\\set m random({members[0]}, {members[1]})"]
    after_pay = False
    for (sql, params), (_, others) in zip(taken, next_one):
        body = re.sub(
            r"\$(\d+)\b",
            lambda m: value(params[int(m.group(1))], others[int(m.group(1))], after_pay),
            sql,
        )
        if PAYS.search(sql):
            lines.append(body + "\n\\gset")
            after_pay = True
        elif sql.startswith(("SELECT", "WITH")) and "accrue_confirm(" in sql:
            lines.append(body + "\n\\gset c_")
        else:
            lines.append(body + ";")
    print("\n".join(lines))
    print(f"pg_floor.py: {len(taken)} statements of purchase {key} (member {member})", file=sys.stderr)


main()
