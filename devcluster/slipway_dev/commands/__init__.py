"""The `slipway dev` and `slipway demo` sub-commands, declared in the `slipway.commands` entry-point group."""
