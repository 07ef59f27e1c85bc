"""One registry class for the components that are chosen by name: activations, losses, optimizers and
schedules.

A registry maps a lower-case name to a class. ``get`` accepts a name, a class or an instance;
``register`` adds a user's class, so that it can be named in a Solver or a Layer and saved and loaded
by name like the built-in ones.
"""


class Registry:
    """Classes of one kind of component, by name.

    Parameters
    ----------
    kind : str
        What the components are, for error messages ("activation", "loss", ...).
    base : type
        The base class every registered class derives from.
    aliases : dict, optional
        Other accepted spellings: ``{"identity": "linear"}``.
    """

    def __init__(self, kind, base, aliases=None):
        self.kind = kind
        self.base = base
        self.aliases = dict(aliases or {})
        self._classes = {}

    def register(self, cls=None, *, name=None):
        """Add a subclass of the base under ``name`` (default ``cls.name``); usable as a decorator.

        Raises
        ------
        TypeError
            When ``cls`` is not a subclass of the base class.
        ValueError
            When the name is not a non-empty string, or already stands for another class.
        """
        if cls is None:
            return lambda c: self.register(c, name=name)
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(f"Only subclasses of {self.base.__name__} can be registered as a {self.kind}, got {cls!r}.")
        key = cls.name if name is None else name
        if not isinstance(key, str) or not key or key != key.lower():
            raise ValueError(f"A {self.kind} is registered under a non-empty lower-case name, got {key!r}.")
        if key in self.aliases or (key in self._classes and self._classes[key] is not cls):
            raise ValueError(f"The {self.kind} name {key!r} is taken by {self._classes.get(key, self.aliases.get(key))!r}.")
        self._classes[key] = cls
        return cls

    def names(self):
        """The registered names, sorted."""
        return sorted(self._classes)

    def lookup(self, name):
        """The class registered under ``name`` (case-insensitive, aliases resolved).

        Raises
        ------
        ValueError
            For an unknown name, listing the valid ones: ``Unknown loss 'msee'; expected one of [...]``.
        """
        key = name.lower()
        key = self.aliases.get(key, key)
        if key not in self._classes:
            raise ValueError(f"Unknown {self.kind} {name!r}; expected one of {self.names()}.")
        return self._classes[key]

    def get(self, obj, **config):
        """An instance from a name, a registered-kind class or an instance (``config`` sets its arguments).

        An instance with ``config`` gives a new instance of its class with those arguments changed.
        """
        if isinstance(obj, str):
            return self.lookup(obj)(**config)
        if isinstance(obj, type) and issubclass(obj, self.base):
            return obj(**config)
        if isinstance(obj, self.base):
            return type(obj)(**{**obj.get_config(), **config}) if config else obj
        raise TypeError(
            f"`{self.kind}` must be a name in {self.names()} or a {self.base.__name__} instance, "
            f"got {type(obj).__name__}."
        )

    def is_registered(self, obj):
        """Whether ``obj``'s class is the one its name stands for (so it can be saved by name)."""
        name = getattr(obj, "name", None)
        return isinstance(name, str) and self._classes.get(name) is type(obj)

    def rebuild(self, name, config):
        """The instance a saved ``(name, config)`` pair describes; ValueError / TypeError when it cannot."""
        if not isinstance(name, str):
            raise TypeError(f"A {self.kind} name must be a string, got {type(name).__name__}.")
        if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
            raise TypeError(f"The configuration of {self.kind} {name!r} must be a dict, got {type(config).__name__}.")
        return self.lookup(name)(**config)
