"""The lab: what tests and benchmarks need and the product never imports: the HTTP fake
server, the provider fakes, the benchmarks and their naive baselines. The lab may
import the product; `make test` checks (import-linter) that nothing runs the other way."""
