"""The command line: `gan-zoo COMMAND` (console.py), the plumbing every command shares
(options.py: --help, one-line errors and exit codes), and `gan-zoo plot` (plot.py). The
commands that belong to a floor keep their `main` there (serving/export.py, ...)."""
