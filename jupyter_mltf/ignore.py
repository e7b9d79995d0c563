"""Gitignore-style matching in linear time.

pathspec translates each gitignore line into a regular expression; that translation stays the reference
semantics here. Python's ``re`` runs such expressions by backtracking: one line like ``*a*a*a...*b`` against a
long file name takes minutes while holding the GIL, and the whole Jupyter server stops answering. The same
expressions run here on RE2 (google-re2), whose automata never backtrack: a match costs at most the path length
times the pattern size, whatever the pattern. Lines RE2 cannot hold within its memory budget are refused with
their line number instead of being dropped silently.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import re2
from pathspec import GitIgnoreSpec

MAX_PATTERN_CHARS = 4096  # PATH_MAX: a longer line cannot be a useful pattern
MAX_IGNORE_FILE_BYTES = 1 << 20
_RULES_PER_SET = 128  # small sets keep RE2's DFA well inside its memory budget
_SET_MAX_MEM = 32 << 20
# pathspec's directory marker: a match that ends on it matched a parent directory of the path
_DIR_MARK = "(?P<ps_d>/)"
_DIR_MARK_OPT = f"(?:{_DIR_MARK}|$)"


class PatternError(ValueError):
    """A line that cannot be matched safely (too long or too complex for the linear-time engine)."""

    def __init__(self, line: int, text: str, why: str) -> None:
        super().__init__(f"line {line} {why}")
        self.line = line
        self.text = text
        self.why = why


@dataclass(frozen=True)
class Rule:
    line: int  # 1-based line number in its file
    text: str  # the line as written
    ignores: bool  # False for a '!' line, which re-includes


@dataclass(frozen=True)
class _Expr:
    rule: int  # index into IgnoreRules.rules
    is_dir: bool  # matches through a parent directory (lower priority than a match of the path itself)
    regex: str


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """The pattern lines of an ignore file with their line numbers (blank lines and comments dropped)."""
    return [
        (number, line)
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _literal_brackets(regex: str) -> str:
    """Escape '[' inside character classes: Python reads ``[[:alpha:]]`` as literal characters, RE2 as a POSIX
    class; escaping keeps pathspec's (Python's) meaning."""
    out: list[str] = []
    i, in_class, class_start = 0, False, 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            out.append(regex[i : i + 2])
            i += 2
            continue
        if not in_class and char == "[":
            in_class, class_start = True, i + 1
            if regex[i + 1 : i + 2] == "^":
                class_start += 1
                out.append("[^")
                i += 2
                continue
        elif in_class and char == "[":
            char = "\\["
        elif in_class and char == "]" and i != class_start:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def _expressions(index: int, regex: str) -> list[_Expr]:
    """Split pathspec's optional directory marker (a capture group RE2 sets cannot report) into two variants."""
    if regex.endswith(_DIR_MARK_OPT):
        base = regex[: -len(_DIR_MARK_OPT)]
        return [_Expr(index, True, base + "/"), _Expr(index, False, base + "$")]
    if _DIR_MARK in regex:
        return [_Expr(index, True, regex.replace(_DIR_MARK, "/"))]
    return [_Expr(index, False, regex)]


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = _SET_MAX_MEM
    options.log_errors = False
    options.never_capture = True
    return options


def _compile(exprs: Sequence[_Expr], rules: Sequence[Rule]) -> list[tuple[re2.Set, list[_Expr]]]:
    """RE2 sets of at most _RULES_PER_SET expressions; a set too big for RE2 is split until one line is alone."""
    if not exprs:
        return []
    if len(exprs) > _RULES_PER_SET:
        half = len(exprs) // 2
        return _compile(exprs[:half], rules) + _compile(exprs[half:], rules)
    regex_set = re2.Set.SearchSet(_options())
    try:
        for expr in exprs:
            regex_set.Add(expr.regex)
        regex_set.Compile()
    except re2.error:
        if len({expr.rule for expr in exprs}) == 1:
            rule = rules[exprs[0].rule]
            raise PatternError(rule.line, rule.text, "is too complex to match safely: simplify it") from None
        half = len(exprs) // 2
        return _compile(exprs[:half], rules) + _compile(exprs[half:], rules)
    return [(regex_set, list(exprs))]


class IgnoreRules:
    """The lines of one ignore file, matched like pathspec's ``GitIgnoreSpec`` but in linear time.

    Lines pathspec rejects (a lone ``!``, a trailing backslash, a bad range) never match, as in git; they are
    listed in ``skipped``. :class:`PatternError` for lines over MAX_PATTERN_CHARS or too complex for RE2.
    """

    def __init__(self, lines: Sequence[tuple[int, str]]) -> None:
        self.rules: list[Rule] = []
        self.skipped: list[tuple[int, str]] = []  # (line number, why)
        exprs: list[_Expr] = []
        for number, text in lines:
            if len(text) > MAX_PATTERN_CHARS:
                raise PatternError(number, text, f"is {len(text)} characters long (at most {MAX_PATTERN_CHARS})")
            parsed = self._parse(number, text)
            if parsed is None:
                continue
            ignores, regex = parsed
            exprs += _expressions(len(self.rules), _literal_brackets(regex))
            self.rules.append(Rule(number, text, ignores))
        self._sets = _compile(exprs, self.rules)

    @classmethod
    def from_patterns(cls, patterns: Sequence[str]) -> IgnoreRules:
        return cls(list(enumerate(patterns, 1)))

    def _parse(self, number: int, text: str) -> tuple[bool, str] | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Python's "possible nested set" for '[[' classes
                # parsing only: the "simple" backend compiles Python regexes it never runs here
                patterns = GitIgnoreSpec.from_lines([text], backend="simple").patterns
        except (ValueError, re.error) as exc:
            self.skipped.append((number, f"not a valid pattern ({exc}), ignored as git does"))
            return None
        if not patterns or patterns[0].include is None or patterns[0].regex is None:
            return None
        regex = patterns[0].regex.pattern
        return bool(patterns[0].include), regex if isinstance(regex, str) else regex.decode("utf-8")

    def match(self, path: str) -> Rule | None:
        """The rule that decides ``path`` (a posix path relative to the file's directory, with a trailing '/'
        for a directory), or None when no line matches."""
        # pathspec's GitIgnoreSpec: the last line matching the path itself wins; when none does, the last line
        # matching one of its parent directories
        priority: dict[int, int] = {}
        for regex_set, exprs in self._sets:
            for expr_id in regex_set.Match(path) or ():
                expr = exprs[expr_id]
                priority[expr.rule] = max(priority.get(expr.rule, 0), 1 if expr.is_dir else 2)
        if not priority:
            return None
        best = max(priority, key=lambda index: (priority[index], index))
        return self.rules[best]

    def ignores(self, path: str) -> bool | None:
        """True: ignored, False: re-included by a '!' line, None: no line matches."""
        rule = self.match(path)
        return None if rule is None else rule.ignores
