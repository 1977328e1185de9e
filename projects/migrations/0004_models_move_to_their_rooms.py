"""Qualification tests, model endpoints and import runs move to their rooms (qualification, dynamic, annotation)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0010_models_move_to_their_rooms'),
        ('projects', '0003_qualification_attempts_and_actions'),
    ]

    operations = [
        # The tables stay as they are (each model keeps its db_table): only Django's picture of
        # which app owns which model changes. No row is touched.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='modelendpoint',
                    name='project',
                ),
                migrations.RemoveField(
                    model_name='streamendpoint',
                    name='endpoint',
                ),
                migrations.RemoveField(
                    model_name='stream',
                    name='endpoints',
                ),
                migrations.RemoveField(
                    model_name='qualificationanswer',
                    name='attempt',
                ),
                migrations.RemoveField(
                    model_name='qualificationanswer',
                    name='question',
                ),
                migrations.RemoveField(
                    model_name='qualificationattempt',
                    name='test',
                ),
                migrations.RemoveField(
                    model_name='qualificationattempt',
                    name='user',
                ),
                migrations.RemoveField(
                    model_name='qualificationquestion',
                    name='item',
                ),
                migrations.RemoveField(
                    model_name='qualificationquestion',
                    name='test',
                ),
                migrations.RemoveField(
                    model_name='qualificationtest',
                    name='stream',
                ),
                migrations.RemoveField(
                    model_name='streamendpoint',
                    name='stream',
                ),
                migrations.DeleteModel(
                    name='ImportBatch',
                ),
                migrations.DeleteModel(
                    name='ModelEndpoint',
                ),
                migrations.DeleteModel(
                    name='QualificationAnswer',
                ),
                migrations.DeleteModel(
                    name='QualificationAttempt',
                ),
                migrations.DeleteModel(
                    name='QualificationQuestion',
                ),
                migrations.DeleteModel(
                    name='QualificationTest',
                ),
                migrations.DeleteModel(
                    name='StreamEndpoint',
                ),
            ],
            database_operations=[],
        ),
    ]
