"""drf-spectacular schema that documents the problem+json errors every endpoint can return."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers
from rest_framework.authentication import SessionAuthentication


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, the body of every error response."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    instance = serializers.CharField(required=False)
    request_id = serializers.CharField(required=False)
    errors = FieldErrorSerializer(many=True, required=False)


_DESCRIPTIONS = {
    "400": "Invalid input; `errors` names each field.",
    "401": "Missing, expired or invalid credentials (bearer token, or username and password).",
    "403": "Authenticated but not allowed, or a session-authenticated write without its CSRF "
    "token.",
    "404": "No such resource, or a page past the last one.",
    "409": "A business rule refused the request (for example stock is short).",
    "414": "The request line is longer than the service reads (4094 bytes); send fewer or "
    "shorter query values.",
    "429": "Rate limited; retry after the `Retry-After` header.",
    "503": "The data's owner is being handed over or moving (`handover_in_progress`, "
    "`owner_moving`); retry after the `Retry-After` header.",
}


class ProblemAutoSchema(AutoSchema):
    """Documents every problem status the shared plumbing can answer for an operation.

    A view adds the ones only its own code raises with `problem_statuses = [401]` (for example
    the token endpoints, which answer 401 to wrong credentials without authenticating anyone).
    """

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = ["429"]
        if self.method in ("POST", "PUT", "PATCH") or self._has_query_params():
            codes.append("400")
        if self._has_query_params():
            codes.append("414")  # gunicorn's limit_request_line (servicekit/web/gunicorn_worker.py)
        authenticators = self.view.get_authenticators()
        # Any authenticator refuses a bad Authorization header, even on a public operation.
        if not self._is_public() or authenticators:
            codes.append("401")
        unsafe = self.method in ("POST", "PUT", "PATCH", "DELETE")
        sessions = any(isinstance(a, SessionAuthentication) for a in authenticators)
        if not self._is_public() or (unsafe and sessions):
            codes.append("403")
        if "{" in self.path or unsafe:
            codes += ["404", "409"]
        if unsafe:
            codes.append("503")
        elif self._is_paginated():
            codes.append("404")
        codes += [str(code) for code in getattr(self.view, "problem_statuses", ())]
        for code in dict.fromkeys(codes):
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ProblemSerializer, description=_DESCRIPTIONS[code]),
                    code,
                    media_types=["application/problem+json"],
                    direction=direction,
                )
        return responses

    def _has_query_params(self) -> bool:
        return bool(getattr(self.view, "filter_serializer_class", None)) or bool(
            getattr(self.view, "pagination_class", None)
        )

    def _is_paginated(self) -> bool:
        """A page number past the last page answers 404 (DRF's PageNumberPagination)."""
        return self.method == "GET" and self._get_paginator() is not None and self._is_list_view()

    def _is_public(self) -> bool:
        perms = [p.__class__ for p in self.view.get_permissions()]
        return all(p is permissions.AllowAny for p in perms)


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    """Names servicekit's bearer authentication in the schema (the `jwtAuth` scheme)."""

    target_class = "servicekit.web.jwt.authentication.JWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
