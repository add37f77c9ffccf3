import { describeExpectedFixtures } from '../../../../helpers/expected-fixtures.js';

describeExpectedFixtures('keras', 'Keras fixtures (fixtures/keras/generate.py): exact findings');
