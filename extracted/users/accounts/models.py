"""The users service's accounts: the monolith's user, same ids, same password hashes."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    email = models.EmailField(unique=True)

    class Meta:
        ordering = ["id"]
