"""A text field that never takes the stop key away while output may be on.

Textual drops an app binding from the chain when the focused widget would consume the key as
text (``check_consume_key``). Here ``s`` is given up whenever the app says output may be on,
and always in number fields (where ``s`` is never valid), so ``s`` stops from every field.
"""

from __future__ import annotations

from textual.widgets import Input


class StopAwareInput(Input):
    def check_consume_key(self, key: str, character: str | None) -> bool:
        if key == "s":
            if self.type != "text":
                return False
            output_may_be_on = getattr(self.app, "output_may_be_on", None)
            if output_may_be_on is None or output_may_be_on():
                return False
        return super().check_consume_key(key, character)
