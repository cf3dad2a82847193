"""How a setting is declared: once, with its section, default, help, choices and bounds."""
import dataclasses

SECTIONS = ("data", "model", "loss", "optimizer", "run", "eval")


def setting(section, default, help, choices=None, bounds=None):
    """One setting, declared once: its section (a builder receives only the model section),
    default, help (what it does and why), the choices it takes, and its bounds: an interval
    such as "(0, inf)" or "[0, 1]" ("[1, inf)": a positive integer), then what it means."""
    assert section in SECTIONS, section
    return dataclasses.field(default=default, metadata=dict(section=section, help=help, choices=choices, bounds=bounds))
