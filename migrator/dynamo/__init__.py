"""The data-path client of DynamoDB and Alternator: where a side's database is and how to sign for it
(`database`), the signed JSON API with retries (`api`), keep-alive HTTP (`http_pool`, `http_connection`,
`transport`), SigV4 (`sigv4`), Alternator node routing (`alternator_nodes`) and throughput budgets (`throttle`)."""
