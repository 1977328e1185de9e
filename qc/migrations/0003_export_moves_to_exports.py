"""Export runs move to the exports room."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('qc', '0002_review_alert_export_checks'),
    ]

    operations = [
        # The tables stay as they are (each model keeps its db_table): only Django's picture of
        # which app owns which model changes. No row is touched.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='Export',
                ),
            ],
            database_operations=[],
        ),
    ]
