"""moto's server, with the one guarantee of DynamoDB the session protocol is built on: a
conditional write is atomic. moto's threaded server checks a condition and writes the item in
two steps, so two requests racing for one item can both pass the same condition (seen under
load: two holders of one rotation lease). Real DynamoDB serialises the writes to an item, so
here every DynamoDB request runs alone; Secrets Manager stays concurrent."""

import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_one_at_a_time = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _one_at_a_time:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action

if __name__ == "__main__":
    main()
