"""Settings that are on, off or auto (--jit_compile, --mixed_precision's kin): how a value
given as a flag, a bool or a word becomes one of the three, and the absl parser of such a flag
(--name means on, --noname off, --name=auto|on|off|true|false)."""
from absl import flags as absl_flags

from gan_zoo.settings.speed_defaults import SWITCH_CHOICES


def switch(value):
    """on / off / auto from a switch setting given as a bool (Python, an older config.json)
    or a string (true/false/1/0/yes/no too); other values are left for validate() to refuse."""
    if isinstance(value, bool):
        return "on" if value else "off"
    word = str(value).strip().lower()
    return {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off"}.get(word, word)


class SwitchParser(absl_flags.ArgumentParser):
    """--name (on), --noname (off), --name=auto|on|off|true|false."""

    def parse(self, argument):
        value = switch(argument)
        if value not in SWITCH_CHOICES:
            raise ValueError(f"must be auto, on or off, got {argument!r}")
        return value

    def flag_type(self):
        return "auto|on|off"
