"""A parser and evaluator for the subset of JQL (Jira Query Language) the sandbox's Jira emulator serves.

Supported:
    clauses      field OP value, with OP one of = != > >= < <= ~ !~ IN, NOT IN, IS, IS NOT
    logic        AND, OR, NOT and parentheses (AND binds tighter than OR)
    ordering     ORDER BY field [ASC|DESC], ...
    values       "double" or 'single' quoted strings with backslash escapes, bare words, numbers,
                 lists in parentheses, EMPTY / NULL, functions now(), startOfDay(), endOfDay(), currentUser()
                 (the day functions take an optional offset such as startOfDay("-1d"))
    dates        "yyyy-MM-dd HH:mm", "yyyy/MM/dd HH:mm", "yyyy-MM-dd", "yyyy/MM/dd" read in the searching
                 user's profile time zone at minute precision, as Jira does; relative periods "-5m", "-2h",
                 "-1d", "-1w", "4w 2d"

Not supported (rejected with Jira-style errors): WAS, CHANGED, history searches, most functions.
Semantics follow Jira where they matter to a connector: `!=` and NOT IN never match an empty value, a
date-time literal is an instant in the user's zone, text fields only take ~ and !~ (contains, case-insensitive).

The field binding (what `project` or "Project Phase" means for an issue) is not here: the caller passes a
`lookup(name) -> FieldSpec | None`, so this module knows the language, not the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, Callable


class JQLError(ValueError):
    """An invalid query. `str(e)` is the message Jira would put in errorMessages."""


# ---- syntax -----------------------------------------------------------------------------------------------
@dataclass
class Value:
    kind: str  # "literal", "list", "function", "empty"
    text: str = ""
    items: list["Value"] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    quoted: bool = False

    def show(self) -> str:
        if self.kind == "list":
            return "(" + ", ".join(v.show() for v in self.items) + ")"
        if self.kind == "function":
            return f"{self.text}({', '.join(self.args)})"
        if self.kind == "empty":
            return "EMPTY"
        return self.text


@dataclass
class Clause:
    field: str
    op: str  # "=", "!=", ">", ">=", "<", "<=", "~", "!~", "in", "not in", "is", "is not"
    value: Value
    pos: int


@dataclass
class BoolOp:
    op: str  # "and", "or", "not"
    items: list[Any]


@dataclass
class OrderKey:
    field: str
    descending: bool


@dataclass
class Query:
    where: Clause | BoolOp | None
    order_by: list[OrderKey]


_OPERATORS = ("!=", ">=", "<=", "!~", "=", ">", "<", "~")
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc", "was", "changed"}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|=|>|<|~)
      | (?P<punct>[(),])
      | (?P<word>[^\s=!<>~(),"']+)
      | (?P<bad>["'!])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", " ": " "}


@dataclass
class _Tok:
    kind: str  # string, op, punct, word, end
    text: str
    raw: str
    pos: int

    @property
    def kw(self) -> str | None:
        return self.text.lower() if self.kind == "word" and self.text.lower() in _KEYWORDS else None


def _unescape(body: str, pos: int) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6] or ""):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt not in _ESCAPES:
                raise JQLError(f"Error in the JQL Query: '\\{nxt}' is an illegal JQL escape sequence. The valid "
                               f"escape sequences are \\', \\\", \\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX. "
                               f"(line 1, character {pos + i + 2})")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _tokenize(jql: str) -> list[_Tok]:
    toks, pos = [], 0
    while pos < len(jql):
        m = _TOKEN.match(jql, pos)
        if not m or m.end() == pos:
            if jql[pos:].strip() == "":
                break
            raise JQLError(f"Error in the JQL Query: The character '{jql[pos]}' is a reserved JQL character. You "
                           f"must enclose it in a string or use the escape '\\u{ord(jql[pos]):04x}' instead. "
                           f"(line 1, character {pos + 1})")
        start = m.start(m.lastgroup)
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "bad":
            if raw in "\"'":
                raise JQLError(f"Error in the JQL Query: Missing closing quote {raw}. (line 1, character {start + 1})")
            raise JQLError(f"Error in the JQL Query: The character '{raw}' is a reserved JQL character. You must "
                           f"enclose it in a string or use the escape '\\u{ord(raw):04x}' instead. "
                           f"(line 1, character {start + 1})")
        text = _unescape(raw[1:-1], start) if kind == "string" else raw
        toks.append(_Tok(kind, text, raw, start))
        pos = m.end()
    toks.append(_Tok("end", "", "", len(jql)))
    return toks


class _Parser:
    def __init__(self, jql: str):
        self.toks = _tokenize(jql)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, expecting: str) -> JQLError:
        t = self.tok
        if t.kind == "end":
            return JQLError(f"Error in the JQL Query: Expecting {expecting} but got end of query.")
        return JQLError(f"Error in the JQL Query: Expecting {expecting} but got '{t.raw}'. "
                        f"(line 1, character {t.pos + 1})")

    def parse(self) -> Query:
        where = None
        if not (self.tok.kw == "order" or self.tok.kind == "end"):
            where = self.or_expr()
        order: list[OrderKey] = []
        if self.tok.kw == "order":
            self.next()
            if self.tok.kw != "by":
                raise self.fail("'by'")
            self.next()
            while True:
                if self.tok.kind not in ("word", "string") or self.tok.kw in ("asc", "desc"):
                    raise self.fail("a field name")
                name = self.next().text
                desc = False
                if self.tok.kw in ("asc", "desc"):
                    desc = self.next().kw == "desc"
                order.append(OrderKey(name, desc))
                if self.tok.kind == "punct" and self.tok.text == ",":
                    self.next()
                    continue
                break
        if self.tok.kind != "end":
            raise self.fail("either 'OR' or 'AND'" if where is not None else "a field name")
        return Query(where, order)

    def or_expr(self):
        items = [self.and_expr()]
        while self.tok.kw == "or":
            self.next()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", items)

    def and_expr(self):
        items = [self.not_expr()]
        while self.tok.kw == "and":
            self.next()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", items)

    def not_expr(self):
        if self.tok.kw == "not":
            self.next()
            return BoolOp("not", [self.not_expr()])
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.next()
            inner = self.or_expr()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                raise self.fail("')'")
            self.next()
            return inner
        return self.clause()

    def clause(self) -> Clause:
        t = self.tok
        if t.kind not in ("word", "string") or (t.kind == "word" and t.kw in _KEYWORDS):
            raise self.fail("a field name")
        self.next()
        name = t.text
        op_tok = self.tok
        if op_tok.kind == "op":
            op = self.next().text
        elif op_tok.kw in ("in", "is"):
            op = self.next().kw
            if self.tok.kw == "not":
                self.next()
                op += " not"
        elif op_tok.kw == "not":
            self.next()
            if self.tok.kw != "in":
                raise self.fail("'IN'")
            self.next()
            op = "not in"
        elif op_tok.kw in ("was", "changed"):
            raise JQLError(f"Error in the JQL Query: The operator '{op_tok.text.upper()}' is not supported by "
                           f"this sandbox. (line 1, character {op_tok.pos + 1})")
        else:
            raise self.fail("operator")
        if op == "in not":
            raise self.fail("'IN'")
        if op in ("in", "not in"):
            value = self.list_value()
        else:
            value = self.value()
        return Clause(name, op, value, t.pos)

    def list_value(self) -> Value:
        if not (self.tok.kind == "punct" and self.tok.text == "("):
            if self.tok.kind == "word" and self.tok.kw is None and self.toks[self.i + 1].text == "(":
                return self.value()  # a function returning a list
            raise self.fail("'('")
        self.next()
        items = [self.value()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.next()
            items.append(self.value())
        if not (self.tok.kind == "punct" and self.tok.text == ")"):
            raise self.fail("')'")
        self.next()
        return Value("list", items=items)

    def value(self) -> Value:
        t = self.tok
        if t.kind == "string":
            self.next()
            return Value("literal", t.text, quoted=True)
        if t.kind == "word":
            if t.kw in ("empty", "null"):
                self.next()
                return Value("empty")
            if t.kw is not None:
                raise self.fail("either a value, list or function")
            self.next()
            if self.tok.kind == "punct" and self.tok.text == "(":
                self.next()
                args = []
                while not (self.tok.kind == "punct" and self.tok.text == ")"):
                    if self.tok.kind not in ("word", "string"):
                        raise self.fail("')'")
                    args.append(self.next().text)
                    if self.tok.kind == "punct" and self.tok.text == ",":
                        self.next()
                self.next()
                return Value("function", t.text, args=args)
            return Value("literal", t.text)
        raise self.fail("either a value, list or function")


def parse(jql: str) -> Query:
    """Parse a JQL string. Raises JQLError with Jira's message style."""
    return _Parser(jql or "").parse()


# ---- semantics --------------------------------------------------------------------------------------------
@dataclass
class FieldSpec:
    """How one searchable field reads an issue.

    kind:
      "enum"     one value compared for equality (project, status, select options, ...);
                 `resolve(text) -> set of internal values` (raise JQLError for an unknown value)
      "user"     like enum; `resolve` maps accountId/e-mail/name; currentUser() is the searching user
      "multi"    a list of strings (labels); = means "contains"
      "key"      issue keys/ids; `get` returns (project_id, number); `resolve(text) -> (project_id, number)`
      "number", "date", "datetime", "text"
    `get(issue)` returns the internal value (None when empty). `sort(issue)` gives the ORDER BY key.
    """

    name: str
    kind: str
    get: Callable[[Any], Any]
    resolve: Callable[[str], Any] | None = None
    sort: Callable[[Any], Any] | None = None
    orderable: bool = True


@dataclass
class Context:
    tz: tzinfo  # the searching user's profile time zone
    now: datetime  # aware
    current_user: str | None = None  # internal user value for currentUser()


@dataclass
class Compiled:
    predicate: Callable[[Any], bool]
    sort_keys: list[tuple[Callable[[Any], Any], bool]]  # (key function, descending)
    time_relative: bool  # uses now()/relative dates: the result changes with the clock
    bounded: bool


_OPS_BY_KIND = {
    "enum": {"=", "!=", "in", "not in", "is", "is not"},
    "user": {"=", "!=", "in", "not in", "is", "is not"},
    "multi": {"=", "!=", "in", "not in", "is", "is not"},
    "key": {"=", "!=", "in", "not in", ">", ">=", "<", "<=", "is", "is not"},
    "number": {"=", "!=", "in", "not in", ">", ">=", "<", "<=", "is", "is not"},
    "date": {"=", "!=", "in", "not in", ">", ">=", "<", "<=", "is", "is not"},
    "datetime": {"=", "!=", "in", "not in", ">", ">=", "<", "<=", "is", "is not"},
    "text": {"~", "!~", "is", "is not"},
}
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_PERIOD = re.compile(r"^\s*([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)$", re.IGNORECASE)
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])", re.IGNORECASE)
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def parse_period(text: str) -> timedelta | None:
    m = _PERIOD.match(text)
    if not m:
        return None
    total = sum((int(n) * _UNITS[u.lower()] for n, u in _PERIOD_PART.findall(m.group(2))), timedelta())
    return -total if m.group(1) == "-" else total


def _date_error(text: str, field_name: str) -> JQLError:
    return JQLError(f"Date value '{text}' for field '{field_name}' is invalid. Valid formats include: "
                    f"'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format "
                    f"e.g. '-5d', '4w 2d'.")


class _Compiler:
    def __init__(self, lookup: Callable[[str], FieldSpec | None], ctx: Context):
        self.lookup = lookup
        self.ctx = ctx
        self.relative = False

    def field(self, name: str) -> FieldSpec:
        spec = self.lookup(name)
        if spec is None:
            raise JQLError(f"Field '{name}' does not exist or you do not have permission to view it.")
        return spec

    def node(self, n) -> Callable[[Any], bool]:
        if isinstance(n, BoolOp):
            parts = [self.node(x) for x in n.items]
            if n.op == "and":
                return lambda i: all(p(i) for p in parts)
            if n.op == "or":
                return lambda i: any(p(i) for p in parts)
            inner = parts[0]
            return lambda i: not inner(i)
        return self.clause(n)

    # -- values --
    def instant(self, v: Value, spec: FieldSpec) -> datetime:
        """A date/datetime value as an aware instant (date-only literals: midnight in the user's zone)."""
        tz = self.ctx.tz
        if v.kind == "function":
            fn = v.text.lower()
            self.relative = True
            offset = parse_period(v.args[0]) if v.args else timedelta()
            if offset is None:
                raise _date_error(v.args[0], spec.name)
            local_now = self.ctx.now.astimezone(tz)
            if fn == "now":
                return self.ctx.now + offset
            if fn == "startofday":
                return datetime.combine((local_now + offset).date(), time(), tzinfo=tz)
            if fn == "endofday":
                return datetime.combine((local_now + offset).date(), time(23, 59, 59, 999000), tzinfo=tz)
            raise JQLError(f"Unable to find JQL function '{v.text}({', '.join(v.args)})'.")
        if v.kind != "literal":
            raise JQLError(f"The value '{v.show()}' is not valid for the field '{spec.name}'.")
        period = parse_period(v.text)
        if period is not None:
            self.relative = True
            return (self.ctx.now + period).replace(second=0, microsecond=0)
        for fmt in _DATE_FORMATS:
            try:
                naive = datetime.strptime(v.text.strip(), fmt)
            except ValueError:
                continue
            return naive.replace(tzinfo=tz)
        raise _date_error(v.text, spec.name)

    def scalar(self, v: Value, spec: FieldSpec) -> Any:
        """One value converted to the field's internal comparable form (a set for enum/user kinds)."""
        if v.kind == "empty":
            return None
        kind = spec.kind
        if kind in ("date", "datetime"):
            inst = self.instant(v, spec)
            return inst.astimezone(self.ctx.tz).date() if kind == "date" else inst
        if kind == "user" and v.kind == "function":
            if v.text.lower() != "currentuser":
                raise JQLError(f"Unable to find JQL function '{v.text}({', '.join(v.args)})'.")
            return {self.ctx.current_user}
        if v.kind == "function":
            raise JQLError(f"Unable to find JQL function '{v.text}({', '.join(v.args)})'.")
        if v.kind == "list":
            raise JQLError(f"The operator does not support the list value '{v.show()}' for field '{spec.name}'.")
        if kind == "number":
            try:
                return float(v.text)
            except ValueError:
                raise JQLError(f"The value '{v.text}' is not valid for the field '{spec.name}'.") from None
        if kind == "multi" or kind == "text":
            return v.text
        return spec.resolve(v.text)  # enum, user, key

    def clause(self, c: Clause) -> Callable[[Any], bool]:
        spec = self.field(c.field)
        op = c.op
        if op not in _OPS_BY_KIND[spec.kind]:
            raise JQLError(f"The operator '{op.upper() if op[0].isalpha() else op}' is not supported by the "
                           f"'{c.field}' field.")
        get = spec.get
        if op in ("is", "is not"):
            if c.value.kind != "empty":
                raise JQLError(f"The operator '{op.upper()}' only supports searching for EMPTY values for "
                               f"the field '{c.field}'.")
            if spec.kind == "multi":
                return (lambda i: not get(i)) if op == "is" else (lambda i: bool(get(i)))
            return (lambda i: get(i) is None) if op == "is" else (lambda i: get(i) is not None)
        if c.value.kind == "empty" and op in ("=", "!="):
            return self.clause(Clause(c.field, "is" if op == "=" else "is not", c.value, c.pos))
        if op in ("in", "not in"):
            return self.membership(spec, c)
        if op in ("~", "!~"):
            words = [w for w in re.split(r"\W+", c.value.text.lower().replace("*", "")) if w]
            if c.value.kind != "literal" or not words:
                raise JQLError(f"The value '{c.value.show()}' is not valid for the '{c.field}' field.")

            def contains(i, words=words):
                text = get(i)
                if text is None:
                    return False
                low = text.lower()
                return all(w in low for w in words)

            return contains if op == "~" else (lambda i: get(i) is not None and not contains(i))
        target = self.scalar(c.value, spec)
        kind = spec.kind
        if kind in ("enum", "user"):
            if op == "=":
                return lambda i: get(i) in target
            return lambda i: get(i) is not None and get(i) not in target
        if kind == "multi":
            low = target.lower()
            if op == "=":
                return lambda i: any(x.lower() == low for x in get(i) or ())
            return lambda i: bool(get(i)) and all(x.lower() != low for x in get(i))
        if kind == "key":
            proj, num = target
            cmp = _CMP[op]
            if op in ("=", "!="):
                return lambda i: cmp(get(i), (proj, num))
            return lambda i: get(i)[0] == proj and cmp(get(i)[1], num)
        cmp = _CMP[op]
        if kind == "datetime" and op == "=":
            # Jira matches '=' on a minute-precision literal against the whole minute
            end = target + timedelta(minutes=1)
            return lambda i: get(i) is not None and target <= get(i) < end
        return lambda i: get(i) is not None and cmp(get(i), target)

    def membership(self, spec: FieldSpec, c: Clause) -> Callable[[Any], bool]:
        values = c.value.items if c.value.kind == "list" else [c.value]
        include_empty = any(v.kind == "empty" for v in values)
        targets = [self.scalar(v, spec) for v in values if v.kind != "empty"]
        get = spec.get
        kind = spec.kind
        if kind in ("enum", "user"):
            allowed = set().union(*targets) if targets else set()
            match = lambda x: x in allowed  # noqa: E731
        elif kind == "multi":
            lows = {t.lower() for t in targets}
            match = lambda xs: any(x.lower() in lows for x in xs)  # noqa: E731
        elif kind == "datetime":
            spans = [(t, t + timedelta(minutes=1)) for t in targets]
            match = lambda x: any(a <= x < b for a, b in spans)  # noqa: E731
        else:
            allowed = set(targets)
            match = lambda x: x in allowed  # noqa: E731

        def empty(x) -> bool:
            return x is None or (kind == "multi" and not x)

        if c.op == "in":
            return lambda i: (include_empty and empty(get(i))) or (not empty(get(i)) and match(get(i)))
        return lambda i: not empty(get(i)) and not match(get(i)) and not (include_empty and empty(get(i)))

    def order(self, keys: list[OrderKey]) -> list[tuple[Callable[[Any], Any], bool]]:
        out = []
        for k in keys:
            spec = self.field(k.field)
            if not spec.orderable:
                raise JQLError(f"Field '{k.field}' does not support sorting.")
            sort = spec.sort or spec.get
            out.append((_null_last(sort), k.descending))
        return out


def _null_last(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def key(i):
        v = fn(i)
        return (1, 0) if v is None else (0, v)

    return key


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def compile_query(query: Query, lookup: Callable[[str], FieldSpec | None], ctx: Context) -> Compiled:
    """Bind a parsed query to fields. Raises JQLError for unknown fields, operators or values."""
    comp = _Compiler(lookup, ctx)
    predicate = comp.node(query.where) if query.where is not None else (lambda i: True)
    order = comp.order(query.order_by)
    return Compiled(predicate, order, comp.relative, query.where is not None)


def sort_issues(items: list, keys: list[tuple[Callable[[Any], Any], bool]], tiebreak: Callable[[Any], Any]) -> list:
    """Stable multi-key sort; ties broken by `tiebreak` ascending; empty values last when ascending."""
    out = sorted(items, key=tiebreak)
    for fn, desc in reversed(keys):
        out.sort(key=fn, reverse=desc)
    return out

