"""Settings: every training setting, its section, choices and bounds; the recipes (data, in
recipes/*.flags); what --jit_compile=auto and --mixed_precision=auto choose per machine.
"""
