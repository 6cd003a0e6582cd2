"""The shared budget in MariaDB (or MySQL): N slot rows per route, taken by one UPDATE.

Each route of a key has `limit` rows in `sonoran_bridge_slot`; a row's `mark` is when the
request it last carried ended (or the reservation time plus the hold while in flight). A slot is
free once `mark + window` has passed, on the server's clock (`UNIX_TIMESTAMP(NOW(6))` with the
session's time zone at '+00:00', so no daylight-saving hour shifts it). Reserving is one
autocommit `UPDATE ... ORDER BY mark LIMIT 1`: row locks make two daemons take two different
rows, and no transaction is ever held across a network wait, so a frozen daemon blocks nobody.
`sonoran_bridge_route` keeps the pause and the last grant (pacing); `sonoran_bridge_demand` each
daemon's published demand. The tables and rows are created on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from bridge.shared.engine import (
    Answer,
    MissingClient,
    Reservation,
    Terms,
    Unavailable,
    Wait,
    longest,
    seconds,
)
from bridge.shared.url import Location

try:
    import asyncmy
except ImportError:  # an optional extra
    raise MissingClient.of("mariadb") from None

TIMEOUT = 1.0
"""Seconds to connect, and to wait for any one answer: a frozen server must not stall us."""

NOW = "UNIX_TIMESTAMP(NOW(6))"
TABLES = (
    """CREATE TABLE IF NOT EXISTS sonoran_bridge_slot (
        keyspace VARCHAR(40) NOT NULL, route VARCHAR(32) NOT NULL, slot INT NOT NULL,
        mark DOUBLE NOT NULL DEFAULT 0, holder VARCHAR(40) NULL,
        PRIMARY KEY (keyspace, route, slot), KEY holder (keyspace, route, holder)
    ) ENGINE=InnoDB""",
    """CREATE TABLE IF NOT EXISTS sonoran_bridge_route (
        keyspace VARCHAR(40) NOT NULL, route VARCHAR(32) NOT NULL,
        paused_until DOUBLE NOT NULL DEFAULT 0, granted_at DOUBLE NOT NULL DEFAULT 0,
        epoch VARCHAR(40) NOT NULL DEFAULT '',
        PRIMARY KEY (keyspace, route)
    ) ENGINE=InnoDB""",
    """CREATE TABLE IF NOT EXISTS sonoran_bridge_demand (
        keyspace VARCHAR(40) NOT NULL, route VARCHAR(32) NOT NULL, member VARCHAR(40) NOT NULL,
        demand DOUBLE NOT NULL, at DOUBLE NOT NULL,
        PRIMARY KEY (keyspace, route, member)
    ) ENGINE=InnoDB""",
)


class MariaDbEngine:
    """`Engine` over MariaDB (`asyncmy`): one connection, autocommit, one statement at a time."""

    def __init__(self, location: Location, keyspace: str, *, member: str | None = None) -> None:
        self.member = member or uuid.uuid4().hex[:12]
        self._location = location
        self._keyspace = keyspace
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._ready: set[tuple[str, int]] = set()
        """(route, limit) whose rows exist, on this connection's lifetime."""
        self._tables = False

    async def _connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        where: dict[str, Any] = (
            {"unix_socket": self._location.unix_socket}
            if self._location.unix_socket
            else {"host": self._location.host, "port": self._location.port}
        )
        if self._location.tls:
            # The server's certificate and name are checked (the system's CAs or ssl_ca's).
            where["ssl"] = self._location.client_tls()
        async with asyncio.timeout(TIMEOUT):
            conn = await asyncmy.connect(
                user=self._location.user,
                password=self._location.password,
                database=self._location.database,
                autocommit=True,
                connect_timeout=TIMEOUT,
                read_timeout=TIMEOUT,
                init_command="SET time_zone = '+00:00', sql_notes = 0",
                **where,
            )
        self._conn = conn
        self._ready.clear()
        return conn

    async def _run(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[int, list[tuple[Any, ...]]]:
        """One autocommit statement: (rows affected, rows returned)."""
        conn = await self._connect()
        async with asyncio.timeout(TIMEOUT), conn.cursor() as cursor:
            affected = await cursor.execute(sql, args)
            rows = await cursor.fetchall() if cursor.description else []
        return int(affected or 0), list(rows or [])

    async def _guarded(self, work: Any) -> Any:
        """Run `work()` under the lock; any failure drops the connection and is returned."""
        async with self._lock:
            try:
                return await work()
            except asyncio.CancelledError:
                self._drop()
                raise
            except Exception as exc:  # the driver's errors are many and untyped: all mean down
                self._drop()
                return Unavailable(f"{type(exc).__name__}: {exc}"[:200])

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # closing a dead socket may fail: it is dead either way
            with contextlib.suppress(Exception):
                conn.close()

    async def _ensure(self, route: str, limit: int) -> None:
        if (route, limit) in self._ready:
            return
        if not self._tables:
            for statement in TABLES:
                await self._run(statement)
            self._tables = True
        ks = self._keyspace
        values = ", ".join(["(%s, %s, %s)"] * limit)
        args: list[Any] = []
        for slot in range(limit):
            args += [ks, route, slot]
        await self._run(
            "INSERT INTO sonoran_bridge_slot (keyspace, route, slot) "
            f"VALUES {values} ON DUPLICATE KEY UPDATE slot = slot",
            tuple(args),
        )
        await self._run(
            "INSERT INTO sonoran_bridge_route (keyspace, route, epoch) VALUES (%s, %s, %s) "
            "ON DUPLICATE KEY UPDATE route = route",
            (ks, route, uuid.uuid4().hex),
        )
        self._ready.add((route, limit))

    async def reserve(
        self, route: str, terms: Terms, *, demand: float = 0.0, after: float = 0.0
    ) -> Answer:
        """Take a slot of `route` now, or say when to ask again."""

        async def work() -> Answer:
            ks, rid = self._keyspace, uuid.uuid4().hex
            await self._ensure(route, terms.limit)
            _, rows = await self._run(
                f"SELECT {NOW}, paused_until, granted_at, epoch FROM sonoran_bridge_route "
                "WHERE keyspace = %s AND route = %s",
                (ks, route),
            )
            now, paused, granted = (float(v) for v in rows[0][:3])
            epoch = str(rows[0][3])
            skipped = await self._clamp(route, terms, now, paused, granted)
            paused = min(paused, now + longest(terms))
            granted = min(granted, now + terms.spacing)
            if terms.demand_ttl > 0:
                await self._publish(route, demand, now)
            if paused > now:
                return Wait(seconds(paused - now), "paused", epoch, skipped)
            _, rows = await self._run(
                "SELECT COUNT(*), MIN(mark) FROM sonoran_bridge_slot "
                "WHERE keyspace = %s AND route = %s AND slot < %s AND mark + %s >= %s",
                (ks, route, terms.limit, terms.window, now),
            )
            if int(rows[0][0]) >= terms.limit:
                oldest = float(rows[0][1])
                wait = seconds(min(oldest, now) + terms.window - now)
                return Wait(wait, "full", epoch, skipped)
            if granted + terms.spacing > now:
                return Wait(seconds(granted + terms.spacing - now), "paced", epoch, skipped)
            if terms.demand_ttl > 0:
                _, rows = await self._run(
                    "SELECT MAX(demand) FROM sonoran_bridge_demand WHERE keyspace = %s "
                    "AND route = %s AND member <> %s AND at + %s >= %s",
                    (ks, route, self.member, terms.demand_ttl, now),
                )
                if rows and rows[0][0] is not None and float(rows[0][0]) > demand:
                    wait = seconds(max(terms.spacing, 0.05) / 2)
                    return Wait(wait, "deferred", epoch, skipped)
            # The pacing mark first: of two daemons past every check, one takes it.
            if terms.spacing > 0:
                paced, _ = await self._run(
                    "UPDATE sonoran_bridge_route SET granted_at = %s WHERE keyspace = %s "
                    "AND route = %s AND granted_at + %s <= %s AND paused_until <= %s",
                    (now, ks, route, terms.spacing, now, now),
                )
                if paced == 0:
                    wait = seconds(max(terms.spacing, 0.05) / 2)
                    return Wait(wait, "paced", epoch, skipped)
            taken, _ = await self._run(
                "UPDATE sonoran_bridge_slot SET mark = %s, holder = %s "
                "WHERE keyspace = %s AND route = %s AND slot < %s AND mark + %s < %s "
                "ORDER BY mark LIMIT 1",
                (now + terms.hold, rid, ks, route, terms.limit, terms.window, now),
            )
            if taken == 0:
                # Another daemon took the last slot between the count and here: undo our mark.
                if terms.spacing > 0:
                    await self._run(
                        "UPDATE sonoran_bridge_route SET granted_at = %s WHERE keyspace = %s "
                        "AND route = %s AND granted_at = %s",
                        (granted, ks, route, now),
                    )
                _, rows = await self._run(
                    "SELECT MIN(mark) FROM sonoran_bridge_slot "
                    "WHERE keyspace = %s AND route = %s AND slot < %s",
                    (ks, route, terms.limit),
                )
                wait = seconds(min(float(rows[0][0]), now) + terms.window - now)
                return Wait(wait, "full", epoch, skipped)
            if terms.demand_ttl > 0:
                await self._publish(route, after, now)
            return Reservation(route, rid, epoch, skipped)

        answer: Answer = await self._guarded(work)
        return answer

    async def _clamp(
        self, route: str, terms: Terms, now: float, paused: float, granted: float
    ) -> tuple[str, ...]:
        """Clamp or drop what no daemon writes (a pause past the longest wait, a slot or a
        demand from the future): named in the answer, so the daemons log it, never obeyed."""
        ks, skipped = self._keyspace, []
        most = longest(terms)
        if paused > now + most or granted > now + terms.spacing:
            await self._run(
                "UPDATE sonoran_bridge_route SET paused_until = LEAST(paused_until, %s), "
                "granted_at = LEAST(granted_at, %s) WHERE keyspace = %s AND route = %s",
                (now + most, now + terms.spacing, ks, route),
            )
            if paused > now + most:
                skipped.append("paused_until: too far ahead")
            if granted > now + terms.spacing:
                skipped.append("granted_at: too far ahead")
        marks, _ = await self._run(
            "UPDATE sonoran_bridge_slot SET mark = 0, holder = NULL "
            "WHERE keyspace = %s AND route = %s AND mark > %s",
            (ks, route, now + most),
        )
        if marks:
            skipped.append("slot: a slot ending too far ahead")
        if terms.demand_ttl > 0:
            demands, _ = await self._run(
                "DELETE FROM sonoran_bridge_demand WHERE keyspace = %s AND route = %s AND at > %s",
                (ks, route, now + terms.demand_ttl),
            )
            if demands:
                skipped.append("demand: malformed demand")
        return tuple(skipped)

    async def _publish(self, route: str, demand: float, now: float) -> None:
        await self._run(
            "INSERT INTO sonoran_bridge_demand (keyspace, route, member, demand, at) "
            "VALUES (%s, %s, %s, %s, %s) "
            "ON DUPLICATE KEY UPDATE demand = VALUES(demand), at = VALUES(at)",
            (self._keyspace, route, self.member, demand, now),
        )

    async def _update(self, sql: str, args: tuple[Any, ...]) -> bool:
        async def work() -> bool:
            await self._run(sql, args)
            return True

        return not isinstance(await self._guarded(work), Unavailable)

    async def confirm(self, reservation: Reservation, terms: Terms) -> bool:
        """The request ended now: its slot counts from now for a window."""
        return await self._update(
            f"UPDATE sonoran_bridge_slot SET mark = {NOW}, holder = NULL "
            "WHERE keyspace = %s AND route = %s AND holder = %s",
            (self._keyspace, reservation.route, reservation.id),
        )

    async def cancel(self, reservation: Reservation, terms: Terms) -> bool:
        """The request provably never left: give its slot back."""
        return await self._update(
            "UPDATE sonoran_bridge_slot SET mark = 0, holder = NULL "
            "WHERE keyspace = %s AND route = %s AND holder = %s",
            (self._keyspace, reservation.route, reservation.id),
        )

    async def pause(self, route: str, seconds: float, terms: Terms) -> bool:
        """Nobody on the key sends on `route` for `seconds`."""

        async def work() -> bool:
            await self._ensure(route, terms.limit)
            await self._run(
                "UPDATE sonoran_bridge_route "
                f"SET paused_until = GREATEST(paused_until, {NOW} + %s) "
                "WHERE keyspace = %s AND route = %s",
                (seconds, self._keyspace, route),
            )
            return True

        return not isinstance(await self._guarded(work), Unavailable)

    async def record(self, route: str, ages: list[float], terms: Terms) -> bool:
        """Count requests sent without the engine that ended `ages` seconds ago."""

        async def work() -> bool:
            await self._ensure(route, terms.limit)
            for age in sorted(ages, reverse=True):
                await self._run(
                    f"UPDATE sonoran_bridge_slot SET mark = {NOW} - %s, holder = NULL "
                    f"WHERE keyspace = %s AND route = %s AND slot < %s AND mark + %s < {NOW} "
                    "ORDER BY mark LIMIT 1",
                    (age, self._keyspace, route, terms.limit, terms.window),
                )
            return True

        return not isinstance(await self._guarded(work), Unavailable)

    async def used(self, route: str, terms: Terms) -> int | None:
        """Slots of `route` counting now."""

        async def work() -> int:
            _, rows = await self._run(
                f"SELECT COUNT(*) FROM sonoran_bridge_slot WHERE keyspace = %s AND route = %s "
                f"AND slot < %s AND mark + %s >= {NOW}",
                (self._keyspace, route, terms.limit, terms.window),
            )
            return int(rows[0][0])

        result = await self._guarded(work)
        return None if isinstance(result, Unavailable) else int(result)

    async def close(self) -> None:
        """Close the connection."""
        async with self._lock:
            self._drop()
