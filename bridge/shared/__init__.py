"""One API key's budget shared by several daemons through MariaDB or Redis.

`engine` is the engine-neutral interface (reserve, confirm, cancel, pause); `redis` and
`mariadb` implement it; `url` reads `budget.shared_url`; `gate` is what the push loop awaits
before each request and after it. Nothing here imports the daemon above it: which engine a URL
opens, and what a request claims of the budget, is wired by `bridge.build`.
"""
