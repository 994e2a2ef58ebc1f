from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "extracted.users.accounts"
    label = "accounts"
