"""drf-spectacular schema that documents the problem+json errors every endpoint can return."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers


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
    "401": "Missing, expired or invalid bearer token.",
    "403": "Authenticated but not allowed.",
    "404": "No such resource.",
    "409": "A business rule refused the request (for example stock is short).",
    "429": "Rate limited; retry after the `Retry-After` header.",
}


class ProblemAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = ["429"]
        if self.method in ("POST", "PUT", "PATCH") or self._has_query_params():
            codes.append("400")
        if not self._is_public():
            codes += ["401", "403"]
        if "{" in self.path or self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += ["404", "409"]
        for code in codes:
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

    def _is_public(self) -> bool:
        perms = [p.__class__ for p in self.view.get_permissions()]
        return all(p is permissions.AllowAny for p in perms)
