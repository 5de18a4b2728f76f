"""Errors whose message is written for the person who caused them."""

from __future__ import annotations


class UserFacingError(Exception):
    """A refusal or failure to show as is: `user_message` is one sentence fit for the user's screen."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message
