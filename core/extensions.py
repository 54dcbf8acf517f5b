"""Flask extensions, created unbound here and bound to an app by ``create_app``.

Flask-Migrate is not among them: it imports alembic (about 12 MB a process), which only the processes that run
migrations need (``flask db``, the tests' setup), not the RQ workers; ``core.app`` binds it where it is wanted.
"""

from flask_babel import Babel
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from core.models import Base

db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
socketio = SocketIO()
