"""Thin HTTP layer of the users service: the monolith's users, auth and JWKS paths and shapes."""

from django.contrib.auth import authenticate
from django.http import JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from extracted.users.accounts import selectors, services
from extracted.users.accounts.serializers import (
    ExportPageSerializer,
    ExportQuerySerializer,
    ProfileUpdateInputSerializer,
    TokenObtainInputSerializer,
    TokenPairOutputSerializer,
    TokenRefreshInputSerializer,
    TokenRefreshOutputSerializer,
    UserOutputSerializer,
    UserRegisterInputSerializer,
)
from servicekit.web.errors import UnauthorizedError
from servicekit.web.jwt.conf import issuer_keys
from servicekit.web.jwt.keys import jwks_document


class UserListRegisterApi(generics.GenericAPIView):
    """GET: every account (staff only). POST: register a customer account (anyone)."""

    serializer_class = UserOutputSerializer

    def get_permissions(self):
        if self.request.method == "POST":
            return [permissions.AllowAny()]
        return [permissions.IsAdminUser()]

    def get_queryset(self):
        return selectors.user_list()

    @extend_schema(responses=UserOutputSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(UserOutputSerializer(page, many=True).data)

    @extend_schema(request=UserRegisterInputSerializer, responses={201: UserOutputSerializer})
    def post(self, request):
        serializer = UserRegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetailApi(generics.RetrieveAPIView):
    """One account by id (staff only)."""

    serializer_class = UserOutputSerializer
    permission_classes = [permissions.IsAdminUser]

    def get_queryset(self):
        return selectors.user_list()


class MeApi(APIView):
    """The caller's own profile."""

    @extend_schema(responses=UserOutputSerializer)
    def get(self, request):
        return Response(UserOutputSerializer(request.user).data)

    @extend_schema(request=ProfileUpdateInputSerializer, responses=UserOutputSerializer)
    def patch(self, request):
        serializer = ProfileUpdateInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, **serializer.validated_data)
        return Response(UserOutputSerializer(user).data)


class TokenObtainApi(APIView):
    """Exchange username and password for an RS256 access and refresh token."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    problem_statuses = [401]  # wrong username or password
    throttle_scope = "auth"

    def get_throttles(self):
        from rest_framework.throttling import ScopedRateThrottle

        return [ScopedRateThrottle()]

    @extend_schema(request=TokenObtainInputSerializer, responses=TokenPairOutputSerializer)
    def post(self, request):
        serializer = TokenObtainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request, **serializer.validated_data)
        if user is None:
            raise UnauthorizedError("Username or password is wrong.", code="invalid_credentials")
        return Response(services.token_pair_issue(user=user))


class TokenRefreshApi(APIView):
    """Exchange a refresh token for a new access token."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    problem_statuses = [401]  # a refresh token that is malformed, expired or revoked

    @extend_schema(request=TokenRefreshInputSerializer, responses=TokenRefreshOutputSerializer)
    def post(self, request):
        serializer = TokenRefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.token_refresh(refresh=serializer.validated_data["refresh"]))


class UsersExportApi(APIView):
    """Staff: accounts with password hashes and event sequences, for the users service's
    backfill and the ownership handover (never logged: the keys say `password`)."""

    permission_classes = [permissions.IsAdminUser]
    filter_serializer_class = ExportQuerySerializer

    @extend_schema(parameters=[ExportQuerySerializer], responses=ExportPageSerializer)
    def get(self, request):
        params = ExportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        limit = params.validated_data["limit"]
        users = list(selectors.users_export(after=params.validated_data["after"], limit=limit))
        page = {"users": users, "next_after": str(users[-1].pk) if len(users) == limit else None}
        response = Response(ExportPageSerializer(page).data)
        response["Cache-Control"] = "no-store"
        return response


def jwks(request):
    """The public keys that verify this issuer's tokens (RFC 7517)."""
    response = JsonResponse(jwks_document(issuer_keys()))
    response["Cache-Control"] = "public, max-age=300"
    return response
