"""`mturk-decisions console`: a requester console in the browser, served and signed on the requester's machine.

The pages are rendered here (server side, plain HTML forms and a little hand-written JavaScript); every API
call is made by this process with the requester's own AWS credentials, through the CLI's client. The local
server is `mturk_decisions_cli.local_proxy.LocalSigningProxy`: it answers only the browser that opened the
address carrying this run's secret, under its own Host and Origin (docs/console.md, "Security model").
"""
