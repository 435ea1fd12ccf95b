"""The one exception type the CLI turns into a one-line error and exit status 2.

Everything a user can get wrong (a bad file, a bad option, a frame out of
range) raises SynackError with a message that names the file, frame or
option; anything else escaping is a bug and keeps its traceback.
"""


class SynackError(Exception):
    exit_status = 2
