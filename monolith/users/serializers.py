"""Shapes of the users API; validation only, the rules live in services."""

from django.contrib.auth.password_validation import validate_password
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from monolith.users.models import User
from servicekit.web.ids import id_field


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "is_staff", "date_joined"]
        read_only_fields = fields


class UserRegisterInputSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]{3,150}$", max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, min_length=8, max_length=128)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("This username is taken.", code="unique")
        return value

    def validate_email(self, value: str) -> str:
        if User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError("An account with this email exists.", code="unique")
        return value.lower()

    def validate(self, attrs):
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            validate_password(attrs["password"], candidate)
        except Exception as exc:  # django ValidationError -> field error
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs


class ProfileUpdateInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)

    def validate_email(self, value: str) -> str:
        user = self.context["request"].user
        if User.objects.filter(email__iexact=value).exclude(pk=user.pk).exists():
            raise serializers.ValidationError("An account with this email exists.", code="unique")
        return value.lower()


class TokenObtainInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class TokenRefreshOutputSerializer(serializers.Serializer):
    access = serializers.CharField()


class ExportUserSerializer(serializers.ModelSerializer):
    """An account as the users service's backfill needs it: the password *hash* included."""

    password_hash = serializers.CharField(source="password")
    sequence = serializers.IntegerField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_staff",
            "is_active",
            "date_joined",
            "password_hash",
            "sequence",
        ]


# One component name per export: the monolith serves several, and same-named components
# would collapse into one schema.
@extend_schema_serializer(component_name="UserExportPage")
class ExportPageSerializer(serializers.Serializer):
    users = ExportUserSerializer(many=True)
    next_after = serializers.CharField(allow_null=True)


class ExportQuerySerializer(serializers.Serializer):
    after = id_field(required=False, default=0, min_value=0)
    limit = serializers.IntegerField(required=False, default=200, min_value=1, max_value=1000)

    def to_internal_value(self, data):
        data = data.copy()
        if data.get("after") == "":
            data.pop("after")
        return super().to_internal_value(data)
