"""What a declared recipe's plan rows say (docs/architecture.md §5.3): the code each row carries, the rule
each field names, the reasons, and whether rows carry the engine's marks.

The engine words rows its own way by default (`Wording(code=<recipe name>)`). A built-in recipe moved onto
the engine keeps its code planner's words, because a row's ledger key hashes its code and its fields'
rules (`push/rows.PushRow.key`): the same words are the same keys, so a sync running before the move
converges after it with nothing to write, and a write whose outcome was unknown is not sent twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Wording:
    #: The code of the recipe's rows (and of its write-backs).
    code: str
    #: The code of the rows bringing fields back into Salesforce (two-way); None: `code`.
    back_code: str | None = None
    #: Target field (or the key a create is found again by) → the rule rows name it by, instead of the
    #: engine's ("<code> Name→Name").
    rules: Mapping[str, str] = field(default_factory=dict)
    #: A match rule's name in the engine's rows (`email`, `ContactNumber`) → the name rows give it.
    match_names: Mapping[str, str] = field(default_factory=dict)
    #: (rule, reason) of the write-backs, planned in rows of their own under `code` (a field `rules` names
    #: keeps that rule); None: a write-back rides with the fields brought back, in one row.
    write_back: tuple[str, str] | None = None
    #: Whether a write-back row says if the push records a new sync_link (the engine's do; R2's never did).
    write_back_link: bool = True
    #: Whether a held row of a broken link names its match (`"match": "link"`); R2's rows carry no diff.
    broken_link_match: bool = True
    #: The reason of an ambiguous match's conflict row (`{rule}`, `{candidates}` comma-separated); None:
    #: the engine's (`steps.ambiguous`).
    ambiguous: str | None = None
    #: The reason of a create row; None: the engine's, naming the match rules.
    create_reason: str | None = None
    #: Whether rows carry the engine's marks (`"engine": "declared"`, `source_table`, `lookup_by`), which
    #: send them through the push's path for declared recipes. A built-in's rows go through its own.
    marks: bool = True
    #: Into Salesforce, a reason template per kind of row (`create`, `skip`, `held`, `conflict`, and for a
    #: gone record `gone` (why), `delete` (what), `delete_held`), filled from what the pass says of the
    #: record (`declared_sf.SfPass.say`) and `{why}`/`{rule}`; a kind without one keeps the engine's.
    reasons: Mapping[str, str] = field(default_factory=dict)
    #: Into Salesforce, the rule a delete row names each field it removes by (their values in the target);
    #: None: a delete row lists no fields.
    delete_rule: str | None = None

    @property
    def back(self) -> str:
        return self.back_code or self.code

    def match_name(self, name: str) -> str:
        return self.match_names.get(name, name)
