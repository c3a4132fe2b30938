"""Infrastructure: the CloudFormation merge template and the local stack that plays it into moto."""
