"""The edge: WSGI fast path (app), the request pipeline (proxy), headers, auth, rate limit, reply."""
