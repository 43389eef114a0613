"""Where the functions' AWS clients come from: one boto3 session per execution environment, clients made on
first use, and botocore's service models loaded once.

Making a client is mostly botocore reading its service model (a large JSON file per service) and its endpoint
rules. Every botocore session has its own loader and so its own copy: a function that makes four clients on
three sessions (its own, the MTurk provider's, PynamoDB's per-thread ones) reads some of them three times.
Here every session shares one loader (`shared_loader`), PynamoDB's included (`share_models_with_pynamodb`):
the files are read once per environment, and SnapStart's before-snapshot hook (`mturk_decisions.snapstart`)
reads them before the snapshot is taken. The loader holds no credentials: only the SDK's own data files.

`Lazy` defers anything costly (a client, a Powertools provider that makes one) until it is first used; made
once, under a lock, whichever thread asks first. Client creation on the shared session is serialized too
(botocore sessions are not safe to make clients from in several threads at once).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

_lock = threading.RLock()
_loader: Any = None
_session: Any = None
_pynamodb_shares = False


T = TypeVar("T")


class Lazy(Generic[T]):
    """`make()` on first use, once; attribute access (reading or setting) goes to what it made (`resolve()`
    gives it)."""

    __slots__ = ("_guard", "_made", "_make", "_value")

    def __init__(self, make: Callable[[], T]) -> None:
        self._make: Callable[[], T] | None = make
        self._value: T | None = None
        self._made, self._guard = False, threading.Lock()

    @classmethod
    def of(cls, value: T) -> Lazy[T]:
        """A part made already (tests installing their own)."""
        made: Lazy[T] = cls(lambda: value)
        made.resolve()
        return made

    @property
    def made(self) -> bool:
        return self._made

    def standing_in(self) -> T:
        """This `Lazy`, typed as what it makes: a part handed over before it is needed (its attributes make it on
        first use), so that what it imports and builds can wait, or be made in the background meanwhile."""
        return cast(T, self)

    def resolve(self) -> T:
        if not self._made:
            with self._guard:
                if not self._made and self._make is not None:
                    self._value, self._made, self._make = self._make(), True, None
        return self._value  # type: ignore[return-value]  # made: a T

    def __getattr__(self, name: str) -> Any:
        return getattr(self.resolve(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in Lazy.__slots__:
            object.__setattr__(self, name, value)
        else:  # e.g. a test replacing a method of the part: it replaces the part's own
            setattr(self.resolve(), name, value)

    def __repr__(self) -> str:
        return f"Lazy({self._value!r})" if self._made else "Lazy(<not made yet>)"


def resolved(value: Any) -> Any:
    """`value`, or what it stands for when it is a `Lazy`."""
    return value.resolve() if type(value) is Lazy else value


def shared_loader() -> Any:
    """The botocore loader every session of this environment uses (its cache: the SDK's JSON data files)."""
    global _loader
    with _lock:
        if _loader is None:
            from botocore.loaders import create_loader

            _loader = create_loader()
        return _loader


def botocore_session() -> Any:
    """A new botocore session that reads service models through `shared_loader()`."""
    import botocore.session

    session = botocore.session.get_session()
    session.register_component("data_loader", shared_loader())
    return session


def session() -> Any:
    """The boto3 session of this environment (credentials resolved by it on its first client)."""
    global _session
    with _lock:
        if _session is None:
            import boto3.session

            _session = boto3.session.Session(botocore_session=botocore_session())
        return _session


def client(service: str, **kwargs: Any) -> Any:
    """A boto3 client of the shared session, made now (serialized with every other client of the session)."""
    with _lock:
        return session().client(service, **kwargs)


def lazy_client(service: str, **kwargs: Any) -> Lazy[Any]:
    """A boto3 client of the shared session, made on its first use."""
    return Lazy(lambda: client(service, **kwargs))


class LazyClients:
    """What the composition root hands out where a boto3 session is expected: `.client(...)` is a client of
    the shared session, made on its first use, in `region` (the function's, read when it was configured: a
    client made later does not depend on the process environment of that moment)."""

    def __init__(self, region: str | None = None) -> None:
        self.region = region

    def client(self, service: str, **kwargs: Any) -> Lazy[Any]:
        if self.region:
            kwargs.setdefault("region_name", self.region)
        return lazy_client(service, **kwargs)


def share_models_with_pynamodb() -> None:
    """PynamoDB makes a botocore session per connection and thread (its own client-creation safety): give
    them the shared loader, so the DynamoDB model is read once whichever session makes a client."""
    global _pynamodb_shares
    with _lock:
        if not _pynamodb_shares:
            import pynamodb.connection.base as pynamodb_connection

            pynamodb_connection.get_session = botocore_session
            _pynamodb_shares = True


def forget_credentials() -> None:
    """Drop the credentials the shared session resolved, if it did: the next client resolves them afresh."""
    with _lock:
        if _session is not None:
            _session._session._credentials = None


def cached_credentials() -> Any:
    """What the shared session holds as credentials now (None when none were resolved): for tests."""
    return None if _session is None else _session._session._credentials
