"""What every generation's module builder writes a payload to."""


class PayloadRecorder:
    """Stands for the payload's ZipFile: keeps what the module builder writes."""

    compression = 0

    def __init__(self):
        self.files = {}

    def writestr(self, name, content):
        self.files[getattr(name, 'filename', name)] = content
