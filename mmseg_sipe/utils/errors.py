"""Errors that are the user's to fix (a file, a key, a setting).

The command-line tools (:func:`mmseg_sipe.utils.cli.run_cli`) print a
:class:`UserError` as ``error: <message>`` on one line and exit with code 1;
the message names the file or key and says what to do.
"""


class UserError(ValueError):
    """A mistake in the input or the environment, reported as one line.

    ``quiet`` errors print nothing: another process of the same distributed
    run (rank 0) reports the failure.
    """

    quiet = False


class PeerFailedError(UserError):
    """Rank 0 failed and reports why; this rank stops without a message."""

    quiet = True
