"""One module per ``python -m kit`` command: ``HELP``, ``configure(parser)``, ``run(args) -> int``."""

__all__: list[str] = []
