"""What an operator watches: Prometheus metrics, structured logs with request and operation ids."""
