"""Name lookup shared by the registries of activations, losses, optimizers and schedules."""


def lookup(kind, name, registry, aliases=None):
    """The class registered under ``name`` (case-insensitive, aliases resolved).

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones: ``Unknown loss 'msee'; expected one of [...]``.
    """
    key = name.lower()
    key = (aliases or {}).get(key, key)
    if key not in registry:
        raise ValueError(f"Unknown {kind} {name!r}; expected one of {sorted(registry)}.")
    return registry[key]
