"""The one Lambda entry point for every LiveInsight function (handler `lambda_function.lambda_handler`)."""
from liveinsight.handler import handle


def lambda_handler(event, context):
    return handle(event, context)
