"""The order email as a function: an order event in, the customer's email out, once per event.

`core.py` is the plain handler; `gcp.py` (functions-framework, CloudEvents) and `aws.py` (an
SQS-triggered Lambda) are thin entry points; `runtime.py` builds the handler from the
environment; `deploy/` holds the deployment files. Imports no Django.
"""
