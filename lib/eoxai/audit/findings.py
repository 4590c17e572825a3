"""What an audit reports: one :class:`Finding` per checked item, gathered in a :class:`Report`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: checks whose passing items are counted, not listed (thousands of data files, the recorded inputs)
SUMMARISED_CHECKS = ("data", "inputs")

@dataclass
class Finding:
    """One checked item: which check, which file (or key), passed or not, and why."""

    check: str
    path: str
    ok: bool
    message: str = ""
    rule: str = ""



@dataclass
class Report:
    """All findings of an audit, rendered as a readable pass/fail report."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, items: Iterable[Finding]) -> None:
        self.findings.extend(items)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def failures(self, check: str | None = None) -> list[Finding]:
        return [f for f in self.findings if not f.ok and (check is None or f.check == check)]

    def render(self, every_file: bool = True) -> str:
        """The report: per check a PASS/FAIL summary, then one line per file (``PASS|FAIL path
        [rule] message``; only failures when ``every_file`` is False, and for the checks of
        :data:`SUMMARISED_CHECKS`), then notes and the result."""
        lines = ["eoxai audit report", "=" * 18]
        for check in dict.fromkeys(f.check for f in self.findings):
            items = [f for f in self.findings if f.check == check]
            bad = [f for f in items if not f.ok]
            lines.append(f"\n[{'PASS' if not bad else 'FAIL'}] {check}: {len(items) - len(bad)} of {len(items)} ok")
            for f in (items if every_file and check not in SUMMARISED_CHECKS else bad):
                rule = f" [{f.rule}]" if f.rule else ""
                lines.append(f"  {'PASS' if f.ok else 'FAIL'} {f.path}{rule}" + (f": {f.message}" if f.message else ""))
        if self.notes:
            lines.append("\nnotes:")
            lines += [f"  * {n}" for n in self.notes]
        n_bad = len(self.failures())
        lines.append("\nRESULT: " + ("PASS - the committed results match the rerun and their records" if self.ok
                                     else f"FAIL - {n_bad} difference(s) listed above"))
        return "\n".join(lines)

